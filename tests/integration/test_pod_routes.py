"""Pod routes between joined machines (issue 22): `minik8s join` runs the host-gw agent.

The control plane (etcd, an apiserver, a controller-manager with nodeipam and the CSR
controllers) runs on the host; the apiserver listens on a bridge the test makes. Two
"machines" are network namespaces plugged into that bridge (their management network, no
default route: nothing they send can leave this host) and joined by a cable of their own (a
veth pair: the nodes' L2 segment, whose addresses are their `--node-ip`). Each runs `minik8s
join --runtime fake --no-proxy` (a hollow kubelet and the host-gw agent) with IP forwarding on,
as a real machine needs. In each machine a "pod" is a namespace behind a bridge on that node's
`spec.podCIDR`, wired as a CNI bridge plugin would. The pod on A reaches the pod on B by its IP
over HTTP (keeping its source address); each agent routes exactly the other node's podCIDR via
its IP; when B's machine stops, its routes stay (flannel's behaviour), and once B's Node is
deleted A's agent removes its route.

Needs root (`ip netns`): run under the shared lock (`flock /tmp/minik8s-e2e.lock`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from minik8s.hostgw import routes_plan
from tests.integration import joined
from tests.integration.test_authz import Cluster
from tests.support import netns
from tests.support.processes import temp_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("curl") is None,
    reason="needs root, iproute2 and curl",
)

MINIK8S = [sys.executable, "-m", "minik8s.cli.launcher.app"]
CONTROLLERS = "csrapproving,csrsigning,bootstrapsigner,tokencleaner,nodeipam"
PORT = 8080


@dataclass
class Rig:
    cluster: Cluster
    bridge: str
    subnet: str
    """The management network's `a.b.c` (the apiserver on .1)."""
    link: str
    """The nodes' cable's `a.b.c`."""
    api: httpx.Client
    work: Path


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    work = temp_dir("minik8s-podroutes-")
    subnet = netns.free_subnet("10.253", range(200, 250))
    link = netns.free_subnet("10.252", range(100, 150))
    pods = netns.free_subnet("10.252", range(150, 200))
    gateway = f"{subnet}.1"
    bridge = f"mk8pr{uuid.uuid4().hex[:6]}"
    netns.create_bridge(bridge, f"{gateway}/24")
    manager_args = [
        "--leader-elect=false",
        f"--controllers={CONTROLLERS}",
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={pods}.0/24",
        "--node-cidr-mask-size=26",
    ]
    try:
        with joined.control_plane(work, gateway, manager_args) as (cluster, api):
            yield Rig(cluster, bridge, subnet, link, api, work)
    finally:
        netns.sh("ip", "link", "del", bridge, check=False)
        shutil.rmtree(work, ignore_errors=True)


def machine(rig: Rig, index: int) -> netns.Namespace:
    """A machine on the management bridge, without a default route, forwarding IP."""
    found = netns.create_on_bridge(
        "mk8pr", rig.bridge, f"{rig.subnet}.{10 + index}/24", f"{rig.subnet}.1"
    )
    found.run("ip", "route", "del", "default")
    found.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    return found


def cable(a: netns.Namespace, b: netns.Namespace, link: str) -> tuple[str, str]:
    """A veth pair between the two machines (`<link>.1/24` on a, `.2/24` on b)."""
    tag = uuid.uuid4().hex[:4]
    ends = (f"mk8pr{tag}a", f"mk8pr{tag}b")
    netns.sh("ip", "link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
    addresses = (f"{link}.1", f"{link}.2")
    for end, host, address in zip(ends, (a, b), addresses, strict=True):
        netns.sh("ip", "link", "set", end, "netns", host.name)
        host.run("ip", "addr", "add", f"{address}/24", "dev", end)
        host.run("ip", "link", "set", end, "up")
    return addresses


def pod(host: netns.Namespace, cidr: str) -> netns.Namespace:
    """A pod namespace on `host`: a bridge holding the podCIDR's first address, a veth pair into
    it, the pod on the second address with its default route via the bridge (a CNI bridge)."""
    first, second = (str(a) for a in list(ipaddress.ip_network(cidr).hosts())[:2])
    prefix = cidr.split("/")[1]
    tag = uuid.uuid4().hex[:4]
    name, outer, inner, bridge = f"mk8pod-{tag}", f"mk8p{tag}h", f"mk8p{tag}n", f"cni{tag}"
    netns.sh("ip", "netns", "add", name)
    found = netns.Namespace(name, second)
    try:
        host.run("ip", "link", "add", bridge, "type", "bridge")
        host.run("ip", "addr", "add", f"{first}/{prefix}", "dev", bridge)
        host.run("ip", "link", "set", bridge, "up")
        netns.sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        netns.sh("ip", "link", "set", outer, "netns", host.name)
        netns.sh("ip", "link", "set", inner, "netns", name)
        host.run("ip", "link", "set", outer, "master", bridge)
        host.run("ip", "link", "set", outer, "up")
        for args in (
            ("addr", "add", f"{second}/{prefix}", "dev", inner),
            ("link", "set", inner, "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", first),
        ):
            found.run("ip", *args)
    except BaseException:
        netns.delete([found])
        raise
    return found


def serve(target: netns.Namespace, label: str) -> None:
    """netns's HTTP server in the pod, awaited from inside it (the host has no route there)."""
    target.server = subprocess.Popen(
        ["ip", "netns", "exec", target.name, sys.executable, "-c", netns.SERVER, label,
         str(PORT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(
        lambda: (target.curl(f"http://127.0.0.1:{PORT}/") or "").startswith(label),
        f"{label} serving on port {PORT}",
        timeout=30,
    )


def routes(host: netns.Namespace) -> dict[str, str]:
    """The agent's routes in `host` (`{cidr: gateway}`)."""
    return routes_plan.parse_routes(
        host.run("ip", "-4", "route", "show", "proto", routes_plan.ROUTE_PROTO)
    )


def join_command(rig: Rig) -> list[str]:
    admin = str(rig.work / "apiserver" / "admin.conf")
    created = subprocess.run(
        [*MINIK8S, "token", "create", "--ttl", "1h", "--print-join-command",
         "--kubeconfig", admin],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    match = re.fullmatch(r"minik8s join (\S+) --token (\S+) --discovery-token-ca-cert-hash (\S+)",
                         created.stdout.strip())  # fmt: skip
    assert match, created.stdout
    endpoint, token, pin = match.groups()
    return ["join", endpoint, "--token", token, "--discovery-token-ca-cert-hash", pin]


def test_pods_on_two_joined_machines_reach_each_other_through_host_gw_routes(rig: Rig) -> None:
    machines: list[netns.Namespace] = []
    pods: list[netns.Namespace] = []
    try:
        a, b = machine(rig, 0), machine(rig, 1)
        machines += [a, b]
        ips = cable(a, b, rig.link)
        command = join_command(rig)

        def join(name: str, host: netns.Namespace, ip: str) -> subprocess.Popen[str]:
            argv = [*command, "--node-name", name, "--node-ip", ip, "--runtime", "fake",
                    "--no-proxy", "--home", str(rig.work / name)]  # fmt: skip
            return subprocess.Popen(
                ["ip", "netns", "exec", host.name, *MINIK8S, *argv],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip

        joins = {name: join(name, host, ip)
                 for name, host, ip in (("pr-a", a, ips[0]), ("pr-b", b, ips[1]))}  # fmt: skip
        for name, joining in joins.items():
            output, _ = joining.communicate(timeout=150)
            assert joining.returncode == 0 and f"node {name} is Ready" in output, output
        cidrs = {
            name: rig.api.get(f"/api/v1/nodes/{name}").json()["spec"]["podCIDR"] for name in joins
        }
        assert cidrs["pr-a"] != cidrs["pr-b"], cidrs

        # Each agent routes exactly the other node's podCIDR via the other node's IP.
        wait_for(lambda: routes(a) == {cidrs["pr-b"]: ips[1]}, "A's route to B's pods")
        wait_for(lambda: routes(b) == {cidrs["pr-a"]: ips[0]}, "B's route to A's pods")

        pod_a, pod_b = pod(a, cidrs["pr-a"]), pod(b, cidrs["pr-b"])
        pods += [pod_a, pod_b]
        serve(pod_b, "pod-b")
        # Across the nodes by pod IP, the source address kept (no NAT on the way).
        assert pod_a.curl(f"http://{pod_b.ip}:{PORT}/", timeout=5) == f"pod-b {pod_a.ip}"

        # B's machine stops (SIGTERM): like flannel, its agent leaves its routes in place.
        for pid in netns.pids(b):
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not netns.pids(b), "B's processes to exit", timeout=20)
        assert routes(b) == {cidrs["pr-a"]: ips[0]}
        # Its Node is deleted: A's agent removes exactly its route; B's pods are unreachable.
        rig.api.delete("/api/v1/nodes/pr-b").raise_for_status()
        wait_for(lambda: routes(a) == {}, "A's route to B's pods to be removed")
        assert a.run("ip", "-4", "route", "show", cidrs["pr-b"]) == ""
        assert pod_a.curl(f"http://{pod_b.ip}:{PORT}/", timeout=2) is None
    finally:
        netns.delete(pods)
        for host in machines:
            netns.vanish(host)  # its bridge, cable end and pod veth ends go with it
