"""A cluster's certificates: a self-signed CA and the apiserver's serving certificate.

kubectl sends bearer tokens only over TLS, so the apiserver serves HTTPS whenever it checks
tokens; the kubeconfig carries the CA so clients verify the server.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)
SERVICE_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
"""The names pods use for the apiserver (the `kubernetes` Service), as in its certificate in
Kubernetes; with the Service's ClusterIP they are in every serving certificate made here."""


@dataclass(frozen=True)
class ServingCertificate:
    ca_cert: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "minik8s"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def ensure_serving_certificate(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> ServingCertificate:
    """Create (once) `ca.crt`, `apiserver.crt` and `apiserver.key` in `directory`; again when
    the certificate there does not name every one of `hosts` (made by an older version)."""
    directory.mkdir(parents=True, exist_ok=True)
    result = ServingCertificate(
        directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
    )
    if (
        result.ca_cert.exists()
        and result.cert.exists()
        and result.key.exists()
        and covers(result.cert, hosts)
    ):
        return result
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("minik8s-ca"))
        .issuer_name(_name("minik8s-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("minik8s-apiserver"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    result.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    result.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, result.key)
    return result


def covers(cert_path: Path, hosts: tuple[str, ...]) -> bool:
    """True if the certificate at `cert_path` names every host (IP or DNS name)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    dns_names = set(names.get_values_for_type(x509.DNSName))
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host not in dns_names:
                return False
        else:
            if host not in ips:
                return False
    return True
