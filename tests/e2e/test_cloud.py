"""LoadBalancer Services on the host: a real cloud controller manager (local provider) hands out
addresses, a real kube-proxy captures them, `curl` reaches backends in network namespaces.

Backends are network namespaces in the pod subnet (10.244.251.0/24) answering `<name> <client
address>`; two are "on" the proxy's node, one on another node (its EndpointSlice says so). A second
source is a client namespace outside the pod network. The pool is 203.0.113.192/29 (6
addresses) on a bridge of this test's own. Everything is removed at the end: namespaces, the
proxy's rules (SIGTERM), the pool's bridge and route (`--cleanup`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import netns, slices
from tests.support.api import Api
from tests.support.cloud import CloudControllerManager
from tests.support.processes import Apiserver, Process, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="routes and iptables need root"),
    pytest.mark.skipif(
        not all(shutil.which(b) for b in ("iptables-restore", "ip", "curl")),
        reason="iptables, iproute2 or curl is not installed",
    ),
]

POOL = "203.0.113.192/29"
BRIDGE = "mk8s-lb-e2e"
NODE = "cloud-e2e-node"
PORT = 8080
UNASSIGNED = "203.0.113.198"
"""The pool's highest address: handed out only when the pool is full."""


@dataclass
class Cluster:
    api: Api
    ccm: CloudControllerManager
    proxy: Process
    kubeconfig: Path
    backends: list[netns.Namespace]
    """Two on the proxy's node, the last on another one."""
    client: netns.Namespace
    ns: str
    work: Path


def free_client_subnet() -> str:
    """A /24 of 10.253.0.0/16 that no route of this host covers but the default one (outside
    the pod and Service ranges: the client must not look like a pod)."""
    routes = json.loads(netns.sh("ip", "-j", "route", "show"))
    taken = [ipaddress.ip_network(r["dst"], strict=False) for r in routes
             if r.get("dst") not in (None, "default")]  # fmt: skip
    for third in range(200, 250):
        subnet = ipaddress.ip_network(f"10.253.{third}.0/24")
        if not any(subnet.overlaps(network) for network in taken):
            return f"10.253.{third}"
    raise AssertionError("no free 10.253.x.0/24 for the client namespace")


@pytest.fixture(scope="module")
def cluster(apiserver: Apiserver) -> Iterator[Cluster]:
    if netns.sh("ip", "link", "show", "dev", "minik8s-svc", check=False):
        pytest.skip("minik8s-svc exists: another minik8s-proxy runs on this host")
    work = temp_dir("minik8s-cloud-e2e-")
    kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
    created: list[netns.Namespace] = []
    proxy: Process | None = None
    ccm = CloudControllerManager(kubeconfig, work / "ccm.log", [
        "--cloud-provider=local", "--controllers=service", f"--load-balancer-pool={POOL}",
        f"--load-balancer-bridge={BRIDGE}", f"--lock-file={work / 'ccm.lock'}",
        "--leader-elect-resource-name=ccm-e2e", "--leader-elect-retry-period=0.5s",
        "--leader-elect-renew-deadline=1s", "--leader-elect-lease-duration=2s",
    ])  # fmt: skip
    api = Api(apiserver)
    proxy_args = [sys.executable, "-m", "minik8s.proxy.server", f"--kubeconfig={kubeconfig}",
                  f"--node-name={NODE}", f"--healthz-port={free_port()}",
                  "--min-sync-period=0.1", "--sync-period=10",
                  f"--state-file={work / 'proxy-state.json'}",
                  f"--lock-file={work / 'proxy.lock'}"]  # fmt: skip
    try:
        for i in range(3):
            created.append(netns.create("mk8s-lbb", "10.244.251", i))
            netns.serve(created[-1], f"backend-{i}", PORT)
        client = netns.create("mk8s-lbc", free_client_subnet(), 0)
        created.append(client)
        proxy = Process("proxy", proxy_args, work / "proxy.log")
        proxy.start()
        ccm.start()
        yield Cluster(api, ccm, proxy, kubeconfig, created[:3], client, api.namespace(), work)
    finally:
        ccm.stop()
        if proxy is not None:
            proxy.stop()
            subprocess.run([*proxy_args, "--cleanup"], capture_output=True, timeout=60)
        netns.delete(created)
        cleanup = [*ccm_argv(kubeconfig), f"--load-balancer-bridge={BRIDGE}",
                   f"--lock-file={work / 'ccm.lock'}", "--cleanup"]  # fmt: skip
        subprocess.run(cleanup, capture_output=True, timeout=60)
        api.close()
        shutil.rmtree(work, ignore_errors=True)


def ccm_argv(kubeconfig: Path) -> list[str]:
    return [sys.executable, "-m", "minik8s.cloudcontroller.server",
            f"--kubeconfig={kubeconfig}", "--cloud-provider=local"]  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def create_service(c: Cluster, name: str, **spec: object) -> dict:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80,
                                                       "targetPort": PORT}], **spec}}  # fmt: skip
    r = c.api.post(f"/api/v1/namespaces/{c.ns}/services", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def put_endpoints(c: Cluster, name: str, backends: list[netns.Namespace]) -> None:
    nodes = {b.name: (NODE if i < 2 else "other-node") for i, b in enumerate(c.backends)}
    endpoints = [slices.endpoint(b.ip, nodes[b.name]) for b in backends]
    ports = [{"name": "http", "port": PORT, "protocol": "TCP"}]
    body = slices.endpoint_slice(name, endpoints, namespace=c.ns, ports=ports)
    r = c.api.post(f"/apis/discovery.k8s.io/v1/namespaces/{c.ns}/endpointslices", body)
    assert r.status_code == 201, r.text


def service(c: Cluster, name: str) -> dict:
    return dict(c.api.get(f"/api/v1/namespaces/{c.ns}/services/{name}").json())


def ingress_ip(c: Cluster, name: str) -> str | None:
    ingress = (service(c, name).get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0]["ip"] if ingress else None


def wait_ip(c: Cluster, name: str, timeout: float = 10.0) -> str:
    return str(wait_for(lambda: ingress_ip(c, name), f"an address for {name}", timeout, 0.05))


def curl(url: str, timeout: float = 1.0) -> str | None:
    result = subprocess.run(["curl", "-s", "--max-time", str(timeout), url], capture_output=True,
                            text=True, timeout=timeout + 10, check=False)  # fmt: skip
    return result.stdout if result.returncode == 0 else None


def events(c: Cluster, name: str) -> list[dict]:
    r = c.api.get(f"/api/v1/namespaces/{c.ns}/events?fieldSelector=involvedObject.name={name}")
    return list(r.json()["items"])


def wait_reasons(c: Cluster, name: str, reasons: set[str]) -> None:
    """Events are written in the background: wait for these reasons about `name`."""
    wait_for(lambda: reasons <= {e["reason"] for e in events(c, name)},
             f"events {sorted(reasons)} about {name}", 10, 0.1)  # fmt: skip


def delete_service(c: Cluster, name: str) -> None:
    assert c.api.delete(f"/api/v1/namespaces/{c.ns}/services/{name}").status_code in (200, 202)
    wait_for(lambda: c.api.get(f"/api/v1/namespaces/{c.ns}/services/{name}").status_code == 404,
             f"service {name} gone (its finalizer removed)", 10, 0.05)  # fmt: skip


def rules_mention(ip: str) -> bool:
    return f"{ip}/32" in netns.sh("iptables-save")


# --- tests, in order -------------------------------------------------------------------------


def test_the_pool_is_routed_to_our_bridge_and_a_free_address_never_leaves(c: Cluster) -> None:
    # /readyz (awaited by ccm.start) says the pool is routed
    assert f"dev {BRIDGE}" in netns.sh("ip", "route", "show", "exact", POOL)
    assert f"dev {BRIDGE}" in netns.sh("ip", "route", "get", UNASSIGNED)
    assert curl(f"http://{UNASSIGNED}/") is None  # no rule: the SYN waits on our empty bridge
    neighbours = netns.sh("ip", "neigh", "show", "dev", BRIDGE)
    assert UNASSIGNED in neighbours and ("INCOMPLETE" in neighbours or "FAILED" in neighbours)


def test_a_load_balancer_gets_an_address_within_2s_and_answers_curl(c: Cluster) -> None:
    put_endpoints(c, "web", c.backends)
    started = time.monotonic()
    create_service(c, "web")
    ip = wait_ip(c, "web", timeout=2.0)  # the bound on the controller
    print(f"address after {time.monotonic() - started:.3f}s")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(POOL)
    svc = service(c, "web")
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": ip, "ipMode": "VIP"}]
    assert "service.kubernetes.io/load-balancer-cleanup" in svc["metadata"]["finalizers"]
    body = wait_for(lambda: curl(f"http://{ip}/"), f"curl http://{ip}/", 10, 0.05)
    assert body.startswith("backend-")
    seen = Counter((curl(f"http://{ip}/") or "").split(" ")[0] for _ in range(60))
    assert set(seen) == {"backend-0", "backend-1", "backend-2"}, seen  # Cluster: every node's
    wait_reasons(c, "web", {"EnsuringLoadBalancer", "EnsuredLoadBalancer"})
    assert events(c, "web")[0]["source"]["component"] == "service-controller"


def test_local_policy_keeps_to_local_endpoints_and_the_client_address(c: Cluster) -> None:
    put_endpoints(c, "local", c.backends)
    svc = create_service(c, "local", externalTrafficPolicy="Local")
    port = svc["spec"]["healthCheckNodePort"]
    ip = wait_ip(c, "local")
    wait_for(lambda: c.client.curl(f"http://{ip}/"), "the client namespace reaches it", 10, 0.05)
    answers = [c.client.curl(f"http://{ip}/") or "" for _ in range(40)]
    assert {a.split(" ")[0] for a in answers} == {"backend-0", "backend-1"}, answers  # local
    assert {a.split(" ")[1] for a in answers} == {c.client.ip}  # the client's own address
    health = wait_for(lambda: netns.get("127.0.0.1", port), f"health check port {port}", 10)
    assert json.loads(health) == {"service": {"namespace": c.ns, "name": "local"},
                                  "localEndpoints": 2, "serviceProxyHealthy": True}  # fmt: skip


def test_source_ranges_refuse_other_sources(c: Cluster) -> None:
    put_endpoints(c, "ranged", c.backends[:1])
    create_service(c, "ranged", loadBalancerSourceRanges=[f"{c.client.ip}/32"])
    ip = wait_ip(c, "ranged")
    wait_for(lambda: c.client.curl(f"http://{ip}/"), "the allowed client reaches it", 10, 0.05)
    assert curl(f"http://{ip}/") is None  # the host is not in the range: dropped
    patch = {"spec": {"loadBalancerSourceRanges": ["10.0.0.0/30"]}}
    r = c.api.patch(f"/api/v1/namespaces/{c.ns}/services/ranged", patch,
                    "application/merge-patch+json")  # fmt: skip
    assert r.status_code == 200, r.text
    wait_for(lambda: c.client.curl(f"http://{ip}/", 0.5) is None, "the client refused", 10, 0.1)


def test_deleting_releases_the_address_and_removes_the_rules(c: Cluster) -> None:
    ip = wait_ip(c, "web")
    assert rules_mention(ip)
    delete_service(c, "web")
    wait_for(lambda: not rules_mention(ip), f"no rule for {ip}", 10, 0.05)
    wait_reasons(c, "web", {"DeletingLoadBalancer", "DeletedLoadBalancer"})
    put_endpoints(c, "again", c.backends[:1])
    create_service(c, "again")
    assert wait_ip(c, "again") == ip  # the lowest free address: the one just released


def test_a_full_pool_leaves_the_next_pending_with_a_warning(c: Cluster) -> None:
    used = {ingress_ip(c, n) for n in ("local", "ranged", "again")}
    fillers = [f"fill-{i}" for i in range(6 - len(used))]
    for name in fillers:
        create_service(c, name)
    for name in fillers:
        wait_ip(c, name)
    create_service(c, "pending")

    def warned() -> dict | None:
        found = [e for e in events(c, "pending") if e["reason"] == "SyncLoadBalancerFailed"]
        return found[0] if found else None

    event = wait_for(warned, "a SyncLoadBalancerFailed event", 10, 0.1)
    assert event["type"] == "Warning"
    assert "no free address in the load balancer pool 203.0.113.192/29" in event["message"]
    assert ingress_ip(c, "pending") is None
    delete_service(c, fillers[0])
    wait_ip(c, "pending")  # retried as soon as an address is freed


def test_a_foreign_load_balancer_class_is_left_alone(c: Cluster) -> None:
    delete_service(c, "pending")
    create_service(c, "foreign", loadBalancerClass="example.com/other")
    create_service(c, "mine")
    wait_ip(c, "mine")  # handled after the foreign one was seen
    foreign = service(c, "foreign")
    assert not foreign["metadata"].get("finalizers")
    assert not foreign["status"].get("loadBalancer")
    assert not [e for e in events(c, "foreign") if "LoadBalancer" in e["reason"]]


def test_a_restarted_controller_hands_out_no_address_twice_and_leaks_none(c: Cluster) -> None:
    listing = c.api.get(f"/api/v1/namespaces/{c.ns}/services").json()["items"]
    for name in [s["metadata"]["name"] for s in listing if ingress_ip(c, s["metadata"]["name"])]:
        delete_service(c, name)
    names = [f"burst-{uuid.uuid4().hex[:4]}-{i}" for i in range(6)]
    for name in names[:3]:
        create_service(c, name)
    c.ccm.kill()  # in the middle of handing them out
    for name in names[3:]:
        create_service(c, name)
    c.ccm.start()
    ips = [wait_ip(c, name, 20) for name in names]
    holders = [s for s in c.api.get("/api/v1/services").json()["items"]
               if (s.get("status", {}).get("loadBalancer") or {}).get("ingress")]  # fmt: skip
    held = [s["status"]["loadBalancer"]["ingress"][0]["ip"] for s in holders]
    assert len(set(ips)) == len(ips) == 6 and sorted(held) == sorted(set(held))
    assert set(held) <= {str(a) for a in ipaddress.ip_network(POOL).hosts()}
    in_use = c.ccm.metric('cloudprovider_load_balancer_pool_addresses{state="in_use"}')
    assert in_use == len(held)  # the pool agrees with the Services: nothing leaked


def test_a_stopped_controller_keeps_the_route_and_cleanup_removes_it(c: Cluster) -> None:
    assert c.ccm.stop() == 0
    assert f"dev {BRIDGE}" in netns.sh("ip", "route", "get", UNASSIGNED)  # still safe
    done = subprocess.run([*ccm_argv(c.kubeconfig), f"--load-balancer-bridge={BRIDGE}",
                           f"--lock-file={c.work / 'ccm.lock'}", "--cleanup"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not netns.sh("ip", "link", "show", "dev", BRIDGE, check=False)
    assert BRIDGE not in netns.sh("ip", "route", "get", UNASSIGNED, check=False)
    c.ccm.start()  # routed again before anything is handed out
    assert f"dev {BRIDGE}" in netns.sh("ip", "route", "show", "exact", POOL)


@pytest.fixture()
def c(cluster: Cluster) -> Cluster:
    return cluster
