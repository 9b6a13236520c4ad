"""A cluster's certificates: a self-signed CA, the apiserver's serving certificate, and the
client and serving certificates of every component and user.

kubectl sends bearer tokens only over TLS, so the apiserver serves HTTPS whenever it checks
tokens; the kubeconfig carries the CA so clients verify the server. The CA's key (`ca.key`,
mode 0600) stays where the certificates are made: the launcher's home, the compose init's
volume. Client certificates follow Kubernetes: the subject's CN is the user, each O a group
(`CN=system:node:node-1, O=system:nodes`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
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


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)
"""What a CA certificate's key may do: sign certificates and CRLs (and digital signatures)."""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "minik8s"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    # 0600 from its creation (atomically), never readable by others for a moment
    write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def ensure_serving_certificate(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> ServingCertificate:
    """Create (once) `ca.crt`, `apiserver.crt` and `apiserver.key` in `directory`; again when
    the certificate there does not name every one of `hosts` (made by an older version)."""
    directory.mkdir(parents=True, exist_ok=True)
    result = ServingCertificate(
        directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
    )
    ca_key_path = directory / "ca.key"
    if (
        result.ca_cert.exists()
        and result.cert.exists()
        and result.key.exists()
        and ca_key_path.exists()
    ):
        if not covers(result.cert, hosts):  # made for fewer names: again, by the same CA
            _issue(
                directory, _name("minik8s-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
                _alt_names(hosts), result.cert, result.key,
            )  # fmt: skip
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
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    alt_names = _alt_names(hosts)
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
    _write_key(ca_key, ca_key_path)
    result.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    result.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, result.key)
    return result


@dataclass(frozen=True)
class ServiceAccountKey:
    key: Path
    """The private key that signs service account tokens (mode 0600)."""
    pub: Path
    """Its public key, which verifies them."""


def ensure_service_account_key(directory: Path) -> ServiceAccountKey:
    """Create (once) `sa.key` and `sa.pub`: an RSA 2048 key pair, as kubeadm makes one."""
    result = ServiceAccountKey(directory / "sa.key", directory / "sa.pub")
    if result.key.exists() and result.pub.exists():
        return result
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(
        result.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    result.pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return result


# --- certificates of users and components (client) and of kubelets (serving) ---------------


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM files of mode 0600."""

    cert: Path
    key: Path


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / 'ca.key'} is not an EC key")
    return cert, key


def write_private(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically, readable by its owner only (mode 0600)."""
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _subject_matches(path: Path, common_name: str, organizations: Sequence[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    names = cert.subject
    cn = [a.value for a in names.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in names.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn == [common_name] and sorted(orgs) == sorted(organizations)


def _issue(
    ca_directory: Path,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    alt_names: list[x509.GeneralName],
    cert_path: Path,
    key_path: Path,
) -> Issued:
    ca_cert, ca_key = _load_ca(ca_directory)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Issued(cert_path, key_path)


def ensure_client_certificate(
    ca_directory: Path,
    common_name: str,
    organizations: Sequence[str],
    cert_path: Path,
    key_path: Path,
) -> Issued:
    """A client certificate for user `common_name` in groups `organizations`, signed by the CA
    in `ca_directory` (made once; made again if its subject differs)."""
    if key_path.exists() and _subject_matches(cert_path, common_name, organizations):
        return Issued(cert_path, key_path)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    return _issue(ca_directory, subject, ExtendedKeyUsageOID.CLIENT_AUTH, [], cert_path, key_path)


def ensure_apiserver_serving_certificate(
    ca_directory: Path, hosts: Sequence[str], cert_path: Path, key_path: Path
) -> Issued:
    """An apiserver's own serving certificate for `hosts`, signed by the CA in `ca_directory`
    (as kubeadm issues one per control-plane node); made once, again when it does not name
    every one of `hosts`."""
    if key_path.exists() and cert_path.exists() and covers(cert_path, hosts):
        return Issued(cert_path, key_path)
    return _issue(
        ca_directory, _name("minik8s-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
        _alt_names(hosts), cert_path, key_path,
    )  # fmt: skip


def ensure_kubelet_serving_certificate(
    ca_directory: Path, node_name: str, hosts: Sequence[str], cert_path: Path, key_path: Path
) -> Issued:
    """The serving certificate of node `node_name`'s kubelet (SANs: the node's name and
    `hosts`), as Kubernetes' kubelet-serving signer issues it (`O=system:nodes`)."""
    common_name = f"system:node:{node_name}"
    if key_path.exists() and _subject_matches(cert_path, common_name, ["system:nodes"]):
        return Issued(cert_path, key_path)
    alt_names = [x509.DNSName(node_name), *_alt_names(hosts)]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return _issue(
        ca_directory, subject, ExtendedKeyUsageOID.SERVER_AUTH, alt_names, cert_path, key_path
    )


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    found: list[x509.GeneralName] = []
    for host in hosts:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            found.append(x509.DNSName(host))
    return found


def covers(cert_path: Path, hosts: Sequence[str]) -> bool:
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


# -- etcd: its own CA, so that no certificate of the cluster's CA opens etcd ------------------

ETCD_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class EtcdCertificates:
    """etcd's CA, its serving certificate and the one client certificate it accepts (the
    apiserver's), as kubeadm lays them out. Every file is mode 0600."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def apiserver_client_cert(self) -> Path:
        return self.directory / "apiserver-etcd-client.crt"

    @property
    def apiserver_client_key(self) -> Path:
        return self.directory / "apiserver-etcd-client.key"

    @property
    def peer_cert(self) -> Path:
        """Between members of a cluster of several (server and client auth, as kubeadm's)."""
        return self.directory / "peer.crt"

    @property
    def peer_key(self) -> Path:
        return self.directory / "peer.key"

    def files(self) -> tuple[Path, ...]:
        return (
            self.ca_cert,
            self.ca_key,
            self.server_cert,
            self.server_key,
            self.apiserver_client_cert,
            self.apiserver_client_key,
        )

    def member_files(self) -> tuple[Path, ...]:
        """What an etcd member needs: the CA certificate (it verifies clients) and its
        serving certificate and key; not the CA's key, not the apiserver's client key."""
        return (self.ca_cert, self.server_cert, self.server_key)

    def apiserver_files(self) -> tuple[Path, ...]:
        """What the apiserver needs to reach etcd: the CA certificate (it verifies the
        members) and its own client certificate and key."""
        return (self.ca_cert, self.apiserver_client_cert, self.apiserver_client_key)


def ensure_etcd_certificates(
    directory: Path, hosts: tuple[str, ...] = ETCD_HOSTS
) -> EtcdCertificates:
    """Create (once) etcd's CA, etcd's serving certificate for `hosts`, and the apiserver's
    client certificate for etcd (`--client-cert-auth` accepts only what this CA signed)."""
    certs = EtcdCertificates(directory)
    if all(path.exists() for path in certs.files()):
        return certs
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _etcd_builder(_name("minik8s-etcd-ca"), _name("minik8s-etcd-ca"), ca_key, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(certs.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(ca_key, certs.ca_key)
    _etcd_leaf(
        ca_cert, ca_key, "minik8s-etcd", hosts, ExtendedKeyUsageOID.SERVER_AUTH,
        certs.server_cert, certs.server_key, now,
    )  # fmt: skip
    _etcd_leaf(
        ca_cert, ca_key, "kube-apiserver-etcd-client", (), ExtendedKeyUsageOID.CLIENT_AUTH,
        certs.apiserver_client_cert, certs.apiserver_client_key, now,
    )  # fmt: skip
    return certs


def ensure_etcd_peer_certificate(
    directory: Path,
    hosts: tuple[str, ...] = ETCD_HOSTS,
    target: Path | None = None,
    common_name: str = "minik8s-etcd-peer",
) -> EtcdCertificates:
    """Create (once) the etcd members' peer certificate from etcd's CA (made first by
    `ensure_etcd_certificates` in `directory`): members accept as peers only what this CA
    signed. `target`: the directory of one member's own peer certificate (kubeadm's
    per-member `peer.crt`, `common_name` its name) instead of `directory`."""
    certs = EtcdCertificates(target or directory)
    if certs.peer_cert.exists() and certs.peer_key.exists():
        return certs
    ca_cert, ca_key = _load_ca(directory)
    _etcd_leaf(
        ca_cert, ca_key, common_name, hosts,
        (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        certs.peer_cert, certs.peer_key, datetime.datetime.now(datetime.UTC),
    )  # fmt: skip
    return certs


def _etcd_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _etcd_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    hosts: tuple[str, ...],
    usage: x509.ObjectIdentifier | tuple[x509.ObjectIdentifier, ...],
    cert_path: Path,
    key_path: Path,
    now: datetime.datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    usages = list(usage) if isinstance(usage, tuple) else [usage]
    builder = _etcd_builder(_name(common_name), ca_cert.subject, key, now).add_extension(
        x509.ExtendedKeyUsage(usages), critical=False
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_alt_names(hosts)), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)


# --- signing CertificateSigningRequests (the controller-manager's csrsigning) ----------------

_KEY_USAGES = {
    "digital signature": "digital_signature",
    "signing": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXTENDED_USAGES = {
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}


@dataclass(frozen=True)
class SigningCA:
    """A CA certificate and its key, loaded once (`--cluster-signing-cert-file/-key-file`)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> SigningCA:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_file}: not an EC or RSA private key")
        return cls(cert, key)

    def sign(
        self, csr: x509.CertificateSigningRequest, usages: Sequence[str], seconds: float
    ) -> bytes:
        """A PEM certificate for `csr`'s subject, names and key, with `usages`, valid for
        `seconds` (never beyond the CA's own expiry), backdated 5 minutes as Kubernetes'
        signer does against clock skew."""
        now = datetime.datetime.now(datetime.UTC)
        not_after = min(now + datetime.timedelta(seconds=seconds), self.cert.not_valid_after_utc)
        flags = dict.fromkeys(_KEY_USAGES.values(), False)
        for usage in usages:
            if usage in _KEY_USAGES:
                flags[_KEY_USAGES[usage]] = True
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**flags), critical=True)
        )
        extended = [_EXTENDED_USAGES[u] for u in usages if u in _EXTENDED_USAGES]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        try:
            names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            builder = builder.add_extension(names, critical=False)
        except x509.ExtensionNotFound:
            pass
        certificate = builder.sign(self.key, hashes.SHA256())
        return certificate.public_bytes(serialization.Encoding.PEM)


def new_certificate_request(
    common_name: str,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a PKCS#10 request for it: (request PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    request = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return request.public_bytes(serialization.Encoding.PEM), key_pem


def ca_cert_hash(ca_pem: bytes) -> str:
    """kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` and the hex SHA-256 of the CA
    certificate's SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return "sha256:" + digest.finalize().hex()


def self_signed_serving(common_name: str, hosts: Sequence[str], days: int = 365) -> bytes:
    """A self-signed serving certificate and its key (PEM, certificate first): what a kubelet
    serves with until the cluster issues its serving certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt_names = _alt_names(hosts)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key_pem
