"""The kubelet certificate manager's decisions (pure)."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

from cryptography import x509

from minik8s.api import certificates
from minik8s.api.users import NODES_GROUP, node_user
from minik8s.client import kubeconfig_document

CLIENT, SERVING = "client", "server"
CLIENT_USAGES = ("digital signature", "client auth")
SERVING_USAGES = ("digital signature", "server auth")
"""EC keys: no key encipherment (Kubernetes' kubelet asks the same for non-RSA keys)."""


def signer(kind: str) -> str:
    return (
        certificates.KUBE_APISERVER_CLIENT_KUBELET
        if kind == CLIENT
        else (certificates.KUBELET_SERVING)
    )


def usages(kind: str) -> tuple[str, ...]:
    return CLIENT_USAGES if kind == CLIENT else SERVING_USAGES


def subject(node: str) -> tuple[str, tuple[str, ...]]:
    """(CN, O) of a node's certificates."""
    return node_user(node), (NODES_GROUP,)


def current_file(cert_dir: Path, kind: str) -> Path:
    """`kubelet-client-current.pem` / `kubelet-server-current.pem`: a symlink to the newest
    `kubelet-<kind>-<timestamp>.pem`, certificate and key in one file (Kubernetes' layout)."""
    return cert_dir / f"kubelet-{kind}-current.pem"


def dated_file(cert_dir: Path, kind: str, now: datetime.datetime) -> Path:
    return cert_dir / f"kubelet-{kind}-{now.strftime('%Y-%m-%d-%H-%M-%S-%f')}.pem"


def validity(pem: bytes) -> tuple[datetime.datetime, datetime.datetime] | None:
    """(notBefore, notAfter) of the first certificate in `pem` (None: none there)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def is_self_signed(pem: bytes) -> bool:
    """The placeholder a kubelet serves with before its serving certificate is issued."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return False
    return cert.issuer == cert.subject


def is_usable(pem: bytes, now: datetime.datetime) -> bool:
    """Holds a certificate that is valid now."""
    window = validity(pem)
    return window is not None and window[0] <= now < window[1]


def rotation_deadline(
    not_before: datetime.datetime, not_after: datetime.datetime, rng: random.Random
) -> datetime.datetime:
    """When to ask for the next certificate: at a random 70-90% of the current one's life
    (Kubernetes' `nextRotationDeadline`), so that a fleet does not renew at once."""
    total = not_after - not_before
    return not_before + total * (0.7 + 0.2 * rng.random())


def kubeconfig(server: str, ca_pem: bytes, cert_file: Path) -> dict[str, object]:
    """The kubelet's kubeconfig after bootstrap: the bootstrap one's cluster, and the rotating
    certificate file as both certificate and key (as kubeadm's kubelet.conf)."""
    credentials = {"client-certificate": str(cert_file), "client-key": str(cert_file)}
    return kubeconfig_document(server, ca_pem, "default-auth", credentials)
