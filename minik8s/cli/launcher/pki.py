"""Where the launcher keeps the cluster's certificates (made by `minik8s.pki`).

kubectl sends a kubeconfig's token only over TLS, so the apiserver serves HTTPS and the
kubeconfig carries the CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minik8s import pki as certificates
from minik8s.cli.launcher import network


@dataclass(frozen=True)
class Pki:
    """Paths of the cluster's certificates and keys (PEM)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        """Signs service account tokens (mode 0600)."""
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        """Verifies service account tokens."""
        return self.directory / "sa.pub"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def kubelet_client_cert(self) -> Path:
        """The apiserver's client certificate towards kubelets."""
        return self.directory / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.directory / "apiserver-kubelet-client.key"

    def kubelet_serving(self, node: str) -> tuple[Path, Path]:
        """Node `node`'s kubelet serving certificate and key."""
        return (
            self.directory / f"kubelet-{node}-serving.crt",
            self.directory / f"kubelet-{node}-serving.key",
        )


def serving_hosts(*extra: str) -> tuple[str, ...]:
    """Where clients reach the apiserver: loopback from the host; the `kubernetes` Service
    (by ClusterIP and name) and the host's pod-network address from pods; `extra` (the
    control-plane endpoint's host) from other machines."""
    return (
        "127.0.0.1",
        "localhost",
        network.kubernetes_service_ip(),
        network.pod_gateway(),
        *certificates.SERVICE_NAMES,
        *extra,
    )


def ensure(directory: Path, *extra_hosts: str) -> Pki:
    """Create the CA, the serving certificate and the service account key pair unless they
    exist; return their paths. A serving certificate that does not name every host (e.g. a
    control-plane endpoint given later) is issued again by the same CA: clients keep
    trusting it, and the apiservers (HAProxy passes TLS through) load it when they start."""
    certificates.ensure_serving_certificate(directory, serving_hosts(*extra_hosts))
    certificates.ensure_service_account_key(directory)
    return Pki(directory)


def etcd(directory: Path) -> certificates.EtcdCertificates:
    """etcd's certificates (its own CA, under `<pki>/etcd`), whether made yet or not."""
    return certificates.EtcdCertificates(directory / "etcd")


def ensure_etcd(directory: Path, peers: bool = False) -> certificates.EtcdCertificates:
    """Create etcd's CA, serving and apiserver client certificates unless they exist (with
    `peers`, the members' peer certificate too)."""
    certs = certificates.ensure_etcd_certificates(directory / "etcd")
    if peers:
        certificates.ensure_etcd_peer_certificate(directory / "etcd")
    return certs
