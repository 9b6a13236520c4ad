"""The cluster's add-ons `up` installs once the control plane runs (as kubeadm's addon phase
does): the `kube-dns` Service in `kube-system`, ClusterIP 10.96.0.10, ports `dns` (53/UDP) and
`dns-tcp` (53/TCP), without a selector: its Endpoints, kept here, point at the DNS process on
the host's pod-network address (`network`), the way the `kubernetes` Service points at the
apiserver."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from minik8s.cli.launcher import network, pki, state
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings

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
    """Create or correct the kube-dns Service and Endpoints; say what was done."""
    with _client(settings, cluster) as api:
        return ensure_dns_objects(api, network.pod_gateway(), cluster.dns_port)


def ensure_dns_objects(api: httpx.Client, address: str, dns_port: int) -> str:
    """The kube-dns Service and its Endpoints (at address:dns_port) through `api` (an
    admin's client of the apiserver); say what was done."""
    base = f"/api/v1/namespaces/{NAMESPACE}"
    done = []
    wanted = dns_service(dns_port)
    current = _get(api, f"{base}/services/{NAME}")
    if current is None:
        _check(api.post(f"{base}/services", json=wanted), "creating service kube-dns")
        done.append("service created")
    elif current["spec"].get("ports") != wanted["spec"]["ports"]:
        current["spec"]["ports"] = wanted["spec"]["ports"]
        _check(api.put(f"{base}/services/{NAME}", json=current), "updating service kube-dns")
        done.append("service ports updated")
    elif current["spec"].get("clusterIP") != network.CLUSTER_DNS:
        raise LauncherError(
            f"service kube-system/kube-dns has ClusterIP {current['spec'].get('clusterIP')},"
            f" not {network.CLUSTER_DNS}: delete it and run `minik8s up` again"
        )
    subsets = dns_subsets(address, dns_port)
    endpoints = _get(api, f"{base}/endpoints/{NAME}")
    if endpoints is None:
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
                "subsets": subsets}  # fmt: skip
        _check(api.post(f"{base}/endpoints", json=body), "creating endpoints kube-dns")
        done.append("endpoints created")
    elif endpoints.get("subsets") != subsets:
        endpoints["subsets"] = subsets
        _check(api.put(f"{base}/endpoints/{NAME}", json=endpoints), "updating endpoints kube-dns")
        done.append("endpoints updated")
    return ", ".join(done) or "up to date"


def _client(settings: LauncherSettings, cluster: state.ClusterState) -> httpx.Client:
    """A client of the cluster's apiserver as its admin (the add-ons are the admin's)."""
    files = pki.Pki(settings.pki_dir)
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    context.load_cert_chain(str(files.admin_cert), str(files.admin_key))
    return httpx.Client(
        base_url=cluster.apiserver_url, verify=context, timeout=settings.probe_timeout * 5
    )


def _get(api: httpx.Client, path: str) -> dict[str, Any] | None:
    response = api.get(path)
    if response.status_code == 404:
        return None
    _check(response, f"reading {path}")
    result: dict[str, Any] = response.json()
    return result


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        raise LauncherError(f"{what}: {response.status_code} {message}")
