"""The control plane that test machines join with `minik8s join` (test_node_rejoin,
test_pod_routes): etcd, a TLS apiserver on an address of a bridge the test made (Node and RBAC
authorization, NodeRestriction, bootstrap tokens) and a controller-manager that signs CSRs with
the cluster CA."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from minik8s import pki
from tests.integration.test_authz import Cluster
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver, Etcd


@contextmanager
def control_plane(
    work: Path, address: str, manager_args: list[str]
) -> Iterator[tuple[Cluster, httpx.Client]]:
    """The running control plane (its files in `work`, the apiserver on `address`) and an
    admin client of it; `manager_args`: the controller-manager's other flags."""
    etcd = Etcd(work / "etcd")
    server: Apiserver | None = None
    manager: ControllerManager | None = None
    try:
        etcd.start()
        certs = pki.ensure_serving_certificate(
            work / "apiserver" / "pki", ("127.0.0.1", "localhost", address)
        )
        server = Apiserver(
            etcd.url,
            work / "apiserver",
            tls=True,
            bind_address=address,
            extra_args=[
                f"--client-ca-file={certs.ca_cert}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-bootstrap-token-auth",
            ],
        )
        server.start()
        cluster = Cluster(server, work / "apiserver", "")
        cluster.kubeconfig("admin", "kubernetes-admin", ("system:masters",))
        manager = ControllerManager(
            cluster.kubeconfig("cm", "system:kube-controller-manager"),
            work / "controller-manager.log",
            extra_args=[
                *manager_args,
                f"--cluster-signing-cert-file={certs.ca_cert}",
                f"--cluster-signing-key-file={certs.ca_cert.parent / 'ca.key'}",
            ],
        )
        manager.start()
        context = ssl.create_default_context(cafile=str(cluster.ca))
        context.load_cert_chain(work / "apiserver" / "admin.crt", work / "apiserver" / "admin.key")
        with httpx.Client(base_url=server.url, verify=context, timeout=10) as api:
            yield cluster, api
    finally:
        if manager is not None:
            manager.stop()
        if server is not None:
            server.stop()
        etcd.stop()
