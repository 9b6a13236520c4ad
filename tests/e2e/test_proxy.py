"""minik8s-proxy against real iptables, with backends in network namespaces we create.

No Docker: each backend is a network namespace joined to the host by a veth pair inside the
test-only subnet 10.244.250.0/24 (inside the default cluster CIDR), running a tiny HTTP server
that answers its own name. Traffic goes only to 127.0.0.1, to those backends and to Service
IPs, which the proxy routes to its local bridge. Teardown removes the namespaces (their veths
go with them); the proxy's SIGTERM and `--cleanup` remove its rules, route and bridge, and the
last tests check that `iptables-save` is as before.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minik8s.proxy import rules
from tests.support import slices
from tests.support.api import Api
from tests.support.processes import Apiserver, Process, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="the proxy needs root to program iptables"),
    pytest.mark.skipif(
        not all(shutil.which(b) for b in ("iptables", "iptables-restore", "iptables-save", "ip")),
        reason="iptables or iproute2 is not installed",
    ),
]

SERVICE_CIDR = "10.96.0.0/16"
"""The session apiserver's default Service range."""
BRIDGE = "minik8s-svc"
BACKENDS = 3
BACKEND_PORT = 8080
REQUESTS = 120
"""Requests per address; with 3 equally likely backends, one is missed with p ≈ 3·(2/3)^120."""
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet",
           "net/bridge/bridge-nf-call-iptables")  # fmt: skip
SERVER = """
import http.server, sys
name = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(name)))
        self.end_headers(); self.wfile.write(name)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"""


def sh(*argv: str, check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def iptables_snapshot() -> list[str]:
    """`iptables-save` without comments and counters; Docker's chains (dockerd may change them
    while we run, for other tests) are left out."""
    lines = []
    for line in sh("iptables-save").splitlines():
        if line.startswith("#") or re.search(r"docker|DOCKER|br-[0-9a-f]{12}", line):
            continue
        lines.append(re.sub(r"\[\d+:\d+\]", "[0:0]", line))
    return lines


def sysctls() -> dict[str, str]:
    return {
        name: Path("/proc/sys", name).read_text().strip()
        for name in SYSCTLS
        if Path("/proc/sys", name).exists()
    }


@dataclass
class Backend:
    name: str
    netns: str
    ip: str
    server: subprocess.Popen[bytes]


def create_backends(count: int) -> list[Backend]:
    tag = uuid.uuid4().hex[:4]
    backends: list[Backend] = []
    try:
        for i in range(count):
            netns, host_if, ns_if = f"mk8s-pt-{tag}-{i}", f"mk8pt{tag}{i}h", f"mk8pt{tag}{i}n"
            host_ip, ns_ip = f"10.244.250.{4 * i + 1}", f"10.244.250.{4 * i + 2}"
            sh("ip", "netns", "add", netns)
            backends.append(Backend(f"backend-{i}", netns, ns_ip, None))  # type: ignore[arg-type]
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            sh("ip", "link", "set", ns_if, "netns", netns)
            sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            for args in (("addr", "add", f"{ns_ip}/30", "dev", ns_if),
                         ("link", "set", ns_if, "up"), ("link", "set", "lo", "up"),
                         ("route", "add", "default", "via", host_ip)):  # fmt: skip
                sh("ip", "netns", "exec", netns, "ip", *args)
            backends[-1].server = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, "-c", SERVER,
                 f"backend-{i}", str(BACKEND_PORT)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for backend in backends:
            wait_for(lambda b=backend: get(b.ip, BACKEND_PORT) == b.name,
                     f"{backend.name} to answer on {backend.ip}")  # fmt: skip
    except BaseException:
        delete_backends(backends)
        raise
    return backends


def delete_backends(backends: list[Backend]) -> None:
    for backend in backends:
        if backend.server is not None:
            backend.server.kill()
            backend.server.wait(5)
        sh("ip", "netns", "del", backend.netns, check=False)  # deletes the veth pair too


def get(host: str, port: int, timeout: float = 2.0) -> str:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def refused(host: str, port: int) -> bool:
    """True if connecting is refused at once (REJECT), not timing out."""
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return time.monotonic() - started < 1.0
    except OSError:
        return False
    return False


@pytest.fixture(scope="module")
def baseline() -> tuple[list[str], dict[str, str]]:
    if shutil.which("ip") and sh("ip", "link", "show", "dev", BRIDGE, check=False):
        pytest.skip(f"{BRIDGE} exists: another minik8s-proxy runs on this host")
    return iptables_snapshot(), sysctls()


@pytest.fixture(scope="module")
def backends(baseline: object) -> Iterator[list[Backend]]:
    created = create_backends(BACKENDS)
    yield created
    delete_backends(created)


@pytest.fixture(scope="module")
def papi(apiserver: Apiserver) -> Iterator[Api]:
    client = Api(apiserver)
    yield client
    client.close()


@dataclass
class Proxy:
    process: Process
    args: list[str]
    health: str


@pytest.fixture(scope="module")
def proxy(apiserver: Apiserver, baseline: object) -> Iterator[Proxy]:
    work = temp_dir("minik8s-proxy-")
    kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
    port = free_port()
    args = [sys.executable, "-m", "minik8s.proxy.server", f"--kubeconfig={kubeconfig}",
            "--node-name=proxy-test-node", f"--healthz-port={port}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--min-sync-period=0.2",
            "--sync-period=5", f"--state-file={work / 'state.json'}",
            "--nodeport-addresses=127.0.0.1/32"]  # fmt: skip
    process = Process("proxy", args, work / "proxy.log")
    process.start()
    health = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(process, port), "the proxy's first sync (/readyz)", timeout=20)
        yield Proxy(process, args, health)
    finally:
        process.stop()
        subprocess.run([*args, "--cleanup"], capture_output=True, timeout=60, check=False)


def _ready(process: Process, port: int) -> bool:
    if not process.alive():
        raise RuntimeError(f"proxy exited:\n{process.log_tail()}")
    try:
        return _status(port) == 200
    except OSError:
        return False


def _status(port: int, path: str = "/readyz") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def create_service(api: Api, ns: str, name: str, **spec: object) -> dict:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}],
                     **spec}}  # fmt: skip
    r = api.post(f"/api/v1/namespaces/{ns}/services", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def put_endpoints(api: Api, ns: str, name: str, ips: list[str | dict]) -> None:
    """The Service's one EndpointSlice (as kube-proxy reads them), its endpoints at `ips`:
    ready ones, or `slices.endpoint(...)` with other conditions."""
    ports = [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}]
    body = slices.endpoint_slice(name, ips, namespace=ns, ports=ports)
    path = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    current = api.get(f"{path}/{name}")
    if current.status_code == 404:
        r = api.post(path, body)
    else:
        body["metadata"]["resourceVersion"] = current.json()["metadata"]["resourceVersion"]
        r = api.put(f"{path}/{name}", body)
    assert r.status_code in (200, 201), r.text


def answers(host: str, port: int, count: int = REQUESTS) -> Counter[str]:
    return Counter(get(host, port) for _ in range(count))


def nat_chains() -> set[str]:
    return {line[1:].split()[0] for line in sh("iptables-save", "-t", "nat").splitlines()
            if line.startswith(":MINIK8S-")}  # fmt: skip


# --- tests, in order: the last ones stop the proxy ---------------------------------------------


def test_service_cidr_goes_to_the_local_bridge(proxy: Proxy, papi: Api) -> None:
    route = sh("ip", "route", "show", "exact", SERVICE_CIDR)
    assert f"dev {BRIDGE}" in route
    used = {s["spec"].get("clusterIP") for s in papi.get("/api/v1/services").json()["items"]}
    unused = next(str(ip) for ip in reversed(list(ipaddress.IPv4Network(SERVICE_CIDR).hosts()))
                  if str(ip) not in used)  # fmt: skip
    assert f"dev {BRIDGE}" in sh("ip", "route", "get", unused)
    with pytest.raises(TimeoutError):  # no rule: the SYN stays on the empty bridge
        socket.create_connection((unused, 80), timeout=1).close()


def test_clusterip_and_nodeport_reach_every_backend(
    proxy: Proxy, papi: Api, backends: list[Backend]
) -> None:
    ns = papi.namespace()
    service = create_service(papi, ns, "web", type="NodePort")
    cluster_ip, node_port = service["spec"]["clusterIP"], service["spec"]["ports"][0]["nodePort"]
    put_endpoints(papi, ns, "web", [b.ip for b in backends])
    names = {b.name for b in backends}
    wait_for(lambda: get(cluster_ip, 80, timeout=0.5) in names, f"{cluster_ip}:80 to answer")
    seen = answers(cluster_ip, 80)
    assert set(seen) == names, f"cluster IP answers {seen}"
    wait_for(lambda: get("127.0.0.1", node_port, 0.5) in names, f"node port {node_port}")
    seen = answers("127.0.0.1", node_port)
    assert set(seen) == names, f"node port answers {seen}"
    # --nodeport-addresses=127.0.0.1/32: another address of this host is not a node port
    other = next(b.ip for b in backends).rsplit(".", 1)[0] + ".1"  # a veth's host side
    assert refused(other, node_port), f"{other}:{node_port} answered: NodePorts not restricted"

    put_endpoints(papi, ns, "web", [backends[0].ip])  # one endpoint: only it answers
    wait_for(lambda: set(answers(cluster_ip, 80, 20)) == {backends[0].name}, "one backend")

    # no endpoint ready: kube-proxy falls back to the serving terminating ones (KEP-1669)...
    draining = slices.endpoint(backends[1].ip, ready=False, serving=True, terminating=True)
    stopped = slices.endpoint(backends[0].ip, ready=False, serving=False, terminating=True)
    put_endpoints(papi, ns, "web", [stopped, draining])
    wait_for(lambda: set(answers(cluster_ip, 80, 20)) == {backends[1].name},
             "the serving terminating backend to take the traffic")  # fmt: skip
    # ... and only then: with one ready, the terminating one gets nothing
    put_endpoints(papi, ns, "web", [backends[0].ip, draining])
    wait_for(lambda: set(answers(cluster_ip, 80, 20)) == {backends[0].name},
             "the ready backend alone to take the traffic")  # fmt: skip

    put_endpoints(papi, ns, "web", [])  # scaled to zero: refused at once, no timeout
    wait_for(lambda: refused(cluster_ip, 80), f"{cluster_ip}:80 to refuse connections")
    wait_for(lambda: refused("127.0.0.1", node_port), f"node port {node_port} to refuse")


def test_session_affinity_keeps_a_client_on_one_backend(
    proxy: Proxy, papi: Api, backends: list[Backend]
) -> None:
    ns = papi.namespace()
    service = create_service(papi, ns, "sticky", sessionAffinity="ClientIP")
    cluster_ip = service["spec"]["clusterIP"]
    put_endpoints(papi, ns, "sticky", [b.ip for b in backends])
    wait_for(lambda: get(cluster_ip, 80, timeout=0.5), f"{cluster_ip}:80 to answer")
    seen = answers(cluster_ip, 80, 30)
    assert len(seen) == 1, f"affinity broken: {seen}"


def test_deleting_the_service_removes_its_chains(
    proxy: Proxy, papi: Api, backends: list[Backend]
) -> None:
    ns = papi.namespace()
    create_service(papi, ns, "gone")
    put_endpoints(papi, ns, "gone", [backends[1].ip])
    sp = rules.ServicePort(ns, "gone", "http", "tcp", "", 80, None, None, ())
    endpoint = rules._endpoint(backends[1].ip, BACKEND_PORT, None)
    chains = {sp.svc_chain, sp.sep_chain(endpoint)}
    wait_for(lambda: chains <= nat_chains(), f"chains {chains} to appear")
    assert papi.delete(f"/api/v1/namespaces/{ns}/services/gone").status_code == 200
    wait_for(lambda: not chains & nat_chains(), f"chains {chains} to be deleted")


def test_metrics_and_health(proxy: Proxy) -> None:
    port = int(proxy.health.rsplit(":", 1)[1])
    assert _status(port, "/healthz") == 200
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    for metric in ("kubeproxy_sync_proxy_rules_duration_seconds_count",
                   "kubeproxy_network_programming_duration_seconds_count",
                   'kubeproxy_sync_proxy_rules_iptables_total{table="nat"}'):  # fmt: skip
        assert metric in text


def test_sigterm_and_cleanup_leave_iptables_as_before(
    proxy: Proxy, baseline: tuple[list[str], dict[str, str]]
) -> None:
    before, before_sysctls = baseline
    assert proxy.process.stop(signal.SIGTERM) == 0, proxy.process.log_tail()
    assert iptables_snapshot() == before
    assert sysctls() == before_sysctls
    assert not sh("ip", "link", "show", "dev", BRIDGE, check=False)
    # --cleanup on a clean host is a no-op that exits 0; after a crash (SIGKILL) it cleans up
    crashed = Process("proxy-crash", proxy.args, proxy.process.log_path)
    crashed.start()
    wait_for(lambda: _ready(crashed, int(proxy.health.rsplit(":", 1)[1])), "proxy restart")
    crashed.kill()
    assert any(line.startswith(":MINIK8S-") for line in iptables_snapshot())
    result = subprocess.run([*proxy.args, "--cleanup"], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert iptables_snapshot() == before
    assert sysctls() == before_sysctls
    assert not sh("ip", "link", "show", "dev", BRIDGE, check=False)
