"""Several apiservers on one etcd: ClusterIPs and NodePorts allocated through all of them at
once are never shared (each address is an etcd key created in the Service's own transaction),
and the `kubernetes` Service's Endpoints list exactly the live ones (identity Leases)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for

# Small ranges, so that concurrent creates do collide and must retry in etcd.
IP_RANGE = "10.97.0.0/24"
PORT_RANGE = "30000-30299"
ADVERTISED = "192.0.2.10"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Etcd, list[Apiserver]]]:
    work = temp_dir("minik8s-ha-alloc-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    servers = [
        Apiserver(
            etcd.url,
            work / f"apiserver-{i}",
            extra_args=[
                f"--service-cluster-ip-range={IP_RANGE}",
                f"--service-node-port-range={PORT_RANGE}",
                "--identity-lease-duration-seconds=3",
                "--identity-lease-renew-interval-seconds=0.5",
                # A documentation address (RFC 5737): only written into the Endpoints, never
                # dialled (Endpoints may not hold loopback addresses).
                f"--advertise-address={ADVERTISED}",
            ],
        )
        for i in range(3)
    ]
    try:
        for server in servers:
            server.start()
        yield etcd, servers
    finally:
        for server in servers:
            server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def service(name: str, node_port: bool, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "NodePort" if node_port else "ClusterIP",
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080}],
            **spec,
        },
    }


def etcd_keys(etcd: Etcd, prefix: str) -> list[str]:
    out = subprocess.run(
        ["etcdctl", f"--endpoints={etcd.url}", "get", "--prefix", "--keys-only", prefix],
        capture_output=True,
        text=True,
        check=True,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    ).stdout
    return [line for line in out.splitlines() if line]


def create_namespace(server: Apiserver, name: str) -> None:
    r = httpx.post(f"{server.url}/api/v1/namespaces", json={"metadata": {"name": name}}, timeout=10)
    assert r.status_code == 201, r.text


def test_200_services_through_three_apiservers_never_share_an_address(
    cluster: tuple[Etcd, list[Apiserver]],
) -> None:
    etcd, servers = cluster
    create_namespace(servers[0], "alloc")

    async def create_all() -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
        try:
            return await asyncio.gather(
                *(
                    clients[i % 3].post(
                        "/api/v1/namespaces/alloc/services",
                        json=service(f"svc-{i}", node_port=i % 2 == 0),
                    )
                    for i in range(200)
                )
            )
        finally:
            for client in clients:
                await client.aclose()

    responses = asyncio.run(create_all())
    assert [r.status_code for r in responses] == [201] * 200, [
        r.text for r in responses if r.status_code != 201
    ][:3]
    created = [r.json() for r in responses]
    ips = [s["spec"]["clusterIP"] for s in created]
    ports = [p["nodePort"] for s in created for p in s["spec"]["ports"] if "nodePort" in p]
    assert len(set(ips)) == 200, "a ClusterIP was given twice"
    assert len(ports) == 100 and len(set(ports)) == 100, "a NodePort was given twice"
    # Every address is held by a key in etcd, and nothing else is (10.97.0.1: `kubernetes`).
    ip_keys = etcd_keys(etcd, "/registry/ranges/serviceips/")
    port_keys = etcd_keys(etcd, "/registry/ranges/servicenodeports/")
    assert sorted(k.rsplit("/", 1)[1] for k in ip_keys) == sorted([*ips, "10.97.0.1"])
    assert sorted(int(k.rsplit("/", 1)[1]) for k in port_keys) == sorted(ports)

    # A taken address asked for by value is a 422, through another apiserver.
    r = httpx.post(
        f"{servers[1].url}/api/v1/namespaces/alloc/services",
        json=service("copy", node_port=True, clusterIP=ips[0]),
        timeout=10,
    )
    assert r.status_code == 422, r.text
    assert "provided IP is already allocated" in r.text
    taken_port = created[0]["spec"]["ports"][0]["nodePort"]
    r = httpx.patch(
        f"{servers[2].url}/api/v1/namespaces/alloc/services/svc-2",
        content=json.dumps({"spec": {"ports": [{"port": 80, "nodePort": taken_port}]}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
        timeout=10,
    )
    assert r.status_code == 422, r.text
    assert "provided port is already allocated" in r.text

    # Deleting releases the addresses in the same transaction: another apiserver reuses them.
    r = httpx.delete(f"{servers[0].url}/api/v1/namespaces/alloc/services/svc-0", timeout=10)
    assert r.status_code == 200, r.text
    assert f"/registry/ranges/serviceips/{ips[0]}" not in etcd_keys(
        etcd, "/registry/ranges/serviceips/"
    )
    r = httpx.post(
        f"{servers[2].url}/api/v1/namespaces/alloc/services",
        json=service("reuse", node_port=True, clusterIP=ips[0]),
        timeout=10,
    )
    assert r.status_code == 201, r.text

    # A NodePort changed by update: the new port's key is taken, the old one released.
    new_port = next(p for p in range(30000, 30300) if p not in ports)
    r = httpx.patch(
        f"{servers[1].url}/api/v1/namespaces/alloc/services/svc-2",
        content=json.dumps({"spec": {"ports": [{"port": 80, "nodePort": new_port}]}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    held = {int(k.rsplit("/", 1)[1]) for k in etcd_keys(etcd, "/registry/ranges/servicenodeports/")}
    old_port = created[2]["spec"]["ports"][0]["nodePort"]
    assert new_port in held and old_port not in held


def test_services_stored_without_address_keys_get_them(tmp_path: Path) -> None:
    """A Service written before the keys existed (an older minik8s) is repaired at start."""
    etcd = Etcd(tmp_path / "etcd")
    etcd.start()
    server = Apiserver(etcd.url, tmp_path / "apiserver")
    try:
        legacy = service("legacy", node_port=True)
        legacy["metadata"].update(namespace="default", uid="legacy-uid")
        legacy["spec"]["clusterIP"] = "10.96.7.7"
        legacy["spec"]["ports"][0]["nodePort"] = 31111
        subprocess.run(
            ["etcdctl", f"--endpoints={etcd.url}", "put", "/registry/services/default/legacy"],
            input=json.dumps(legacy),
            text=True,
            check=True,
            capture_output=True,
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        )
        server.start()
        wait_for(
            lambda: (
                "/registry/ranges/servicenodeports/31111" in etcd_keys(etcd, "/registry/ranges/")
            ),
            "the legacy Service's address keys",
        )
        assert "/registry/ranges/serviceips/10.96.7.7" in etcd_keys(etcd, "/registry/ranges/")
        r = httpx.post(
            f"{server.url}/api/v1/namespaces/default/services",
            json=service("other", node_port=True, clusterIP="10.96.7.7"),
            timeout=10,
        )
        assert r.status_code == 422, r.text
    finally:
        server.stop()
        etcd.stop()


def kubernetes_endpoints(server: Apiserver) -> list[tuple[str, int]]:
    r = httpx.get(f"{server.url}/api/v1/namespaces/default/endpoints/kubernetes", timeout=10)
    if r.status_code != 200:
        return []
    return sorted(
        (a["ip"], p["port"])
        for subset in r.json().get("subsets") or []
        for a in subset["addresses"]
        for p in subset["ports"]
    )


def test_the_kubernetes_service_lists_the_live_apiservers(
    cluster: tuple[Etcd, list[Apiserver]],
) -> None:
    """Runs last: it stops two of the three apiservers."""
    _, servers = cluster
    everyone = sorted((ADVERTISED, s.port) for s in servers)
    wait_for(
        lambda: kubernetes_endpoints(servers[0]) == everyone,
        "all three in the endpoints",
        timeout=30,
    )
    svc = httpx.get(f"{servers[1].url}/api/v1/namespaces/default/services/kubernetes").json()
    assert svc["spec"]["clusterIP"] == "10.97.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    leases = httpx.get(
        f"{servers[2].url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        params={"labelSelector": "apiserver.kubernetes.io/identity=kube-apiserver"},
    ).json()["items"]
    assert len(leases) == 3 and all(
        lease["metadata"]["name"].startswith("apiserver-") for lease in leases
    )
    holders = {lease["spec"]["holderIdentity"].split("_")[0] for lease in leases}
    assert holders == {f"kube-{lease['metadata']['name']}" for lease in leases}

    # A clean stop takes the apiserver out at once; a SIGKILLed one once its Lease expires.
    servers[1].stop()
    assert kubernetes_endpoints(servers[0]) == [e for e in everyone if e[1] != servers[1].port]
    servers[2].stop(signal.SIGKILL)
    wait_for(
        lambda: kubernetes_endpoints(servers[0]) == [(ADVERTISED, servers[0].port)],
        "the killed apiserver's lease to expire and its endpoint to go",
        timeout=30,
    )

    def one_lease() -> bool:
        r = httpx.get(
            f"{servers[0].url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
            params={"labelSelector": "apiserver.kubernetes.io/identity=kube-apiserver"},
        )
        return len(r.json()["items"]) == 1

    wait_for(one_lease, "the dead apiservers' identity leases to be deleted", timeout=30)
