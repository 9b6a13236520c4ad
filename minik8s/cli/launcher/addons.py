"""The cluster's add-ons `up` installs once the control plane runs (as kubeadm's addon phase
does): the `kube-dns` Service in `kube-system`, ClusterIP 10.96.0.10, ports `dns` (53/UDP) and
`dns-tcp` (53/TCP), without a selector: its Endpoints, kept here, point at the DNS process on
the host's pod-network address (`network`), the way the `kubernetes` Service points at the
apiserver."""

from __future__ import annotations

import asyncio
from typing import Any

from minik8s.api import errors
from minik8s.api.resources import ENDPOINTS, SERVICES
from minik8s.cli.bootstrap import clusterobjects, proxyconfig
from minik8s.cli.launcher import apirequests, network, pki, state
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.client import ApiClient

NAMESPACE = "kube-system"
NAME = "kube-dns"
LABELS = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
          "kubernetes.io/name": "CoreDNS"}  # fmt: skip


def dns_service(dns_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {
            "clusterIP": network.CLUSTER_DNS,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": dns_port},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": dns_port},
            ],
        },
    }


def dns_subsets(address: str, dns_port: int) -> list[dict[str, Any]]:
    return [
        {
            "addresses": [{"ip": address}],
            "ports": [
                {"name": "dns", "port": dns_port, "protocol": "UDP"},
                {"name": "dns-tcp", "port": dns_port, "protocol": "TCP"},
            ],
        }
    ]


def ensure_dns(settings: LauncherSettings, cluster: state.ClusterState) -> str:
    """Create or correct the kube-dns Service and Endpoints as the admin; say what was done."""
    config = apirequests.admin_config(settings, cluster)
    if config is None:
        raise LauncherError("no admin credentials to install the kube-dns Service")

    async def install() -> str:
        async with ApiClient(config) as client:
            return await ensure_dns_objects(client, network.pod_gateway(), cluster.dns_port)

    try:
        return asyncio.run(install())
    except errors.ApiError as e:
        raise LauncherError(f"installing the kube-dns Service: {e.message}") from e


async def ensure_dns_objects(client: ApiClient, address: str, dns_port: int) -> str:
    """The kube-dns Service and its Endpoints (at address:dns_port), through `client` (one
    allowed to get, create and update them); say what was done."""
    done = []
    wanted = dns_service(dns_port)
    try:
        current = await client.get(SERVICES, NAME, NAMESPACE)
    except errors.NotFound:
        await client.create(SERVICES, wanted, NAMESPACE)
        done.append("service created")
    else:
        if current["spec"].get("clusterIP") != network.CLUSTER_DNS:
            raise LauncherError(
                f"service kube-system/kube-dns has ClusterIP {current['spec'].get('clusterIP')},"
                f" not {network.CLUSTER_DNS}: delete it and run `minik8s up` again"
            )
        if current["spec"].get("ports") != wanted["spec"]["ports"]:
            current["spec"]["ports"] = wanted["spec"]["ports"]
            await client.update(SERVICES, current)
            done.append("service ports updated")
    subsets = dns_subsets(address, dns_port)
    try:
        endpoints = await client.get(ENDPOINTS, NAME, NAMESPACE)
    except errors.NotFound:
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
                "subsets": subsets}  # fmt: skip
        await client.create(ENDPOINTS, body, NAMESPACE)
        done.append("endpoints created")
    else:
        if endpoints.get("subsets") != subsets:
            endpoints["subsets"] = subsets
            await client.update(ENDPOINTS, endpoints)
            done.append("endpoints updated")
    return ", ".join(done) or "up to date"


def publish_cluster_info(settings: LauncherSettings, cluster: state.ClusterState) -> str:
    """Point `kube-public/cluster-info` (where `minik8s join` learns the endpoint, and what
    `token create --print-join-command` prints) at the control-plane endpoint, creating it and
    kubeadm's bootstrap RBAC when there is one; without one, an existing `cluster-info` is
    pointed back at loopback. With an endpoint, also kubeadm's `kube-system/kube-proxy`
    ConfigMap (the pods' range, which joining nodes read). Say what was done ("": nothing)."""
    config = apirequests.admin_config(settings, cluster)
    if config is None:
        raise LauncherError("no admin credentials to publish cluster-info")

    async def publish() -> str:
        async with ApiClient(config) as client:
            ca = pki.Pki(settings.pki_dir).ca_cert.read_bytes()
            done = await clusterobjects.set_endpoint(
                client, cluster.join_url, ca, create=cluster.endpoint is not None
            )
            if cluster.allocates_node_cidrs:  # joined kube-proxies learn the pods' range
                proxy = await proxyconfig.publish(client, network.POD_SUBNET)
                done = ", ".join(x for x in (done, proxy and f"kube-proxy {proxy}") if x)
            return done

    try:
        return asyncio.run(publish())
    except errors.ApiError as e:
        raise LauncherError(f"publishing cluster-info: {e.message}") from e
