"""The apiserver's identity towards extension apiservers: a front-proxy client certificate.

As in Kubernetes, the apiserver authenticates each request itself, then proxies it to the
extension server with a client certificate signed by the request-header CA and the user in
`X-Remote-User` / `X-Remote-Group` headers; extension servers trust those headers only from a
connection with such a certificate. They learn the CA from the ConfigMap
`kube-system/extension-apiserver-authentication`, which the apiserver keeps current.

With `--proxy-client-cert-file`, `--proxy-client-key-file` and
`--requestheader-client-ca-file` the files are used; without them the apiserver makes a CA
and certificate of its own at start (in a private temporary directory, never on disk beyond
its life), so a restart rotates them and the ConfigMap says so.
"""

from __future__ import annotations

import datetime
import json
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_NAME = "front-proxy-client"
CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"
USER_HEADER = "X-Remote-User"
GROUP_HEADER = "X-Remote-Group"
EXTRA_PREFIX = "X-Remote-Extra-"
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class FrontProxy:
    ca_pem: bytes
    """The request-header CA extension servers trust."""
    cert_file: Path
    key_file: Path
    temp_dir: Path | None = None
    """Set when the material is ephemeral: removed by `close`."""

    def ssl_context(self, ca_bundle: bytes | None, insecure: bool) -> ssl.SSLContext:
        """A client context: our certificate, the backend verified against `ca_bundle`
        (system CAs when absent), or not verified at all when `insecure`."""
        context = ssl.create_default_context(cadata=ca_bundle.decode() if ca_bundle else None)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def close(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def from_files(ca_file: str, cert_file: str, key_file: str) -> FrontProxy:
    return FrontProxy(Path(ca_file).read_bytes(), Path(cert_file), Path(key_file))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ephemeral() -> FrontProxy:
    """A fresh request-header CA and front-proxy client certificate (files mode 0600)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("front-proxy-ca"))
        .issuer_name(_name("front-proxy-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CLIENT_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="minik8s-front-proxy-"))
    cert_file, key_file = directory / "front-proxy-client.crt", directory / "front-proxy-client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return FrontProxy(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file, directory)


def configmap_data(front: FrontProxy, client_ca: bytes | None = None) -> dict[str, str]:
    """The data of `kube-system/extension-apiserver-authentication`, as Kubernetes writes it."""
    data = {
        "requestheader-client-ca-file": front.ca_pem.decode(),
        "requestheader-allowed-names": json.dumps([CLIENT_NAME]),
        "requestheader-username-headers": json.dumps([USER_HEADER]),
        "requestheader-group-headers": json.dumps([GROUP_HEADER]),
        "requestheader-extra-headers-prefix": json.dumps([EXTRA_PREFIX]),
    }
    if client_ca:
        data["client-ca-file"] = client_ca.decode()
    return data


def configmap(front: FrontProxy, client_ca: bytes | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE},
        "data": configmap_data(front, client_ca),
    }
