"""A joined node's machine vanishes and comes back (issue 22's fault), with real processes.

The control plane (etcd, an apiserver, a controller-manager, a scheduler) runs on the host;
the apiserver listens on a bridge the test makes (10.253.x.1/24: routed nowhere else). A
"machine" is a network namespace plugged into that bridge, where `minik8s join` runs a hollow
kubelet (`--runtime fake`) and a kube-proxy (its iptables are the namespace's own). A
Deployment's pods land there; then the machine vanishes (its processes SIGKILLed, the
namespace deleted): the Node goes NotReady (unreachable), its pods are evicted after their
`tolerationSeconds` and replaced on another node. Then a new machine (another namespace,
another address, a new token) joins with the same node name: the Node is Ready again with its
new address and without the taints, its kubelet got a new certificate through a CSR, and the
old pods are finalized, never started again: the Deployment has exactly its replicas.

Needs root (`ip netns`): run under the shared lock (`flock /tmp/minik8s-e2e.lock`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from minik8s.api import meta
from tests.integration import joined
from tests.integration.test_authz import Cluster
from tests.integration.test_tls_bootstrap import served_certificate
from tests.support import netns
from tests.support.kubelet import Kubelet
from tests.support.processes import Process, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]

MINIK8S = [sys.executable, "-m", "minik8s.cli.launcher.app"]
NODE = "roaming-1"
SPARE = "spare-1"
APP = "moved"
REPLICAS = 3
HEALTH_TAINTS = {"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}
CONTROLLERS = (
    "csrapproving,csrsigning,bootstrapsigner,tokencleaner,nodelifecycle,deployment,replicaset,podgc,"
    "nodeipam"
)
LIFECYCLE = [
    "--leader-elect=false",
    "--node-monitor-period=0.5",
    "--node-monitor-grace-period=4",
    "--node-startup-grace-period=10",
]
"""A node silent for 4 s is unreachable (its kubelet reports every 1 s, below)."""


@dataclass
class Rig:
    cluster: Cluster
    bridge: str
    subnet: str
    api: httpx.Client
    work: Path

    def get(self, path: str) -> Any:
        r = self.api.get(path)
        r.raise_for_status()
        return r.json()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    work = temp_dir("minik8s-rejoin-")
    subnet = netns.free_subnet("10.253", range(100, 200))
    gateway = f"{subnet}.1"
    bridge = f"mk8rj{uuid.uuid4().hex[:6]}"
    netns.create_bridge(bridge, f"{gateway}/24")
    manager_args = [
        *LIFECYCLE,
        f"--controllers={CONTROLLERS}",
        "--allocate-node-cidrs=true",  # join's host-gw agent routes the podCIDRs
        "--cluster-cidr=10.244.0.0/16",  # only in the machines' own tables
    ]
    try:
        with joined.control_plane(work, gateway, manager_args) as (cluster, api):
            scheduler = Process(
                "scheduler",
                [sys.executable, "-m", "minik8s.scheduler.server", "--leader-elect=false",
                 f"--kubeconfig={cluster.kubeconfig('scheduler', 'system:kube-scheduler')}",
                 f"--healthz-port={free_port()}"],
                work / "scheduler.log",
            )  # fmt: skip
            try:
                scheduler.start()
                yield Rig(cluster, bridge, subnet, api, work)
            finally:
                scheduler.stop()
    finally:
        netns.sh("ip", "link", "del", bridge, check=False)
        shutil.rmtree(work, ignore_errors=True)


def minik8s(
    *args: str, namespace: netns.Namespace | None = None
) -> subprocess.CompletedProcess[str]:
    inside = ["ip", "netns", "exec", namespace.name] if namespace else []
    return subprocess.run(
        [*inside, *MINIK8S, *args], capture_output=True, text=True, timeout=120, check=False
    )


def join(rig: Rig, machine: netns.Namespace, home: Path) -> str:
    """A new token, then `minik8s join` on `machine`; the token's id."""
    admin = str(rig.cluster.work / "admin.conf")
    created = minik8s("token", "create", "--ttl", "1h", "--print-join-command",
                      "--kubeconfig", admin)  # fmt: skip
    assert created.returncode == 0, created.stderr
    match = re.fullmatch(r"minik8s join (\S+) --token (\S+) (--discovery-token-ca-cert-hash \S+)",
                         created.stdout.strip())  # fmt: skip
    assert match, created.stdout
    endpoint, token, pin = match.groups()
    assert endpoint == rig.cluster.server.url, endpoint  # reachable from the machine
    joined = minik8s(
        "join", endpoint, "--token", token, *pin.split(), "--node-name", NODE,
        "--node-ip", machine.ip, "--runtime", "fake", "--home", str(home),
        "--kubelet-arg=--node-status-update-frequency=1s",
        namespace=machine,
    )  # fmt: skip
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert f"node {NODE} is Ready" in joined.stdout, joined.stdout
    return token.split(".")[0]


def node(rig: Rig) -> dict:
    return dict(rig.get(f"/api/v1/nodes/{NODE}"))


def ready(obj: dict) -> str:
    condition = meta.get_condition(obj, "Ready")
    return str(condition.get("status")) if condition is not None else ""


def health_taints(obj: dict) -> set[str]:
    taints = (obj.get("spec") or {}).get("taints") or []
    return {t["key"] for t in taints if t.get("key") in HEALTH_TAINTS}


def pods(rig: Rig) -> list[dict]:
    return list(rig.get(f"/api/v1/namespaces/default/pods?labelSelector=app={APP}")["items"])


def running_on(items: list[dict], node_name: str) -> list[dict]:
    return [
        p for p in items
        if p["spec"].get("nodeName") == node_name and p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
    ]  # fmt: skip


def started_events(rig: Rig, uids: set[str]) -> int:
    """How many times the kubelets said they started a container of these pods."""
    items = rig.get("/api/v1/namespaces/default/events")["items"]
    return sum(
        int(e.get("count") or 1) for e in items
        if e.get("reason") == "Started" and e["involvedObject"].get("uid") in uids
    )  # fmt: skip


def kubelet_client_cert(home: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        (home / "pki" / "kubelet-client-current.pem").read_bytes()
    )


def deployment() -> dict:
    tolerate = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}
        for key in sorted(HEALTH_TAINTS)
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": "default"},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {
                    "containers": [{"name": "app", "image": "busybox",
                                    "command": ["sleep", "3600"]}],
                    "tolerations": tolerate,
                },
            },
        },
    }  # fmt: skip


def test_a_vanished_node_rejoins_with_its_name_and_its_pods_are_not_duplicated(
    rig: Rig,
) -> None:
    machines: list[netns.Namespace] = []
    spare: Kubelet | None = None
    try:
        # 1. A machine joins; the Deployment's pods land on it (the only node).
        first = netns.create_on_bridge(
            "mk8rj", rig.bridge, f"{rig.subnet}.10/24", f"{rig.subnet}.1"
        )
        machines.append(first)
        first_home = rig.work / "machine-1"
        first_token = join(rig, first, first_home)
        first_cert = kubelet_client_cert(first_home)
        assert {"type": "InternalIP", "address": first.ip} in node(rig)["status"]["addresses"]
        rig.cluster.apply("admin", deployment())
        old = wait_for(
            lambda: (found := running_on(pods(rig), NODE)) and len(found) == REPLICAS and found,
            f"{REPLICAS} pods Running on {NODE}",
            timeout=30,
        )
        old_uids = {p["metadata"]["uid"] for p in old}
        wait_for(lambda: started_events(rig, old_uids) >= REPLICAS, "the pods' Started events")
        started_before = started_events(rig, old_uids)

        # A second node where the pods can go (a hollow kubelet on the host).
        spare = Kubelet(
            rig.cluster.kubeconfig("spare", f"system:node:{SPARE}", ("system:nodes",)),
            rig.work / "spare",
            node_name=SPARE,
            runtime="fake",
        )
        spare.start()

        # 2. The machine vanishes: NotReady (unreachable, tainted), its pods move to the spare.
        netns.vanish(first)
        machines.remove(first)
        wait_for(
            lambda: (
                ready(n := node(rig)) == "Unknown"
                and "node.kubernetes.io/unreachable" in health_taints(n)
            ),
            f"{NODE} to be unreachable and tainted",
            timeout=30,
        )
        wait_for(
            lambda: all(p["metadata"].get("deletionTimestamp") for p in pods(rig)
                        if p["metadata"]["uid"] in old_uids),
            "the pods of the vanished node to be evicted",
            timeout=20,
        )  # fmt: skip
        wait_for(
            lambda: len(running_on(pods(rig), SPARE)) == REPLICAS,
            f"{REPLICAS} replacement pods Running on {SPARE}",
            timeout=30,
        )

        # 3. Another machine (another address, a new token) joins with the same name.
        second = netns.create_on_bridge(
            "mk8rj", rig.bridge, f"{rig.subnet}.11/24", f"{rig.subnet}.1"
        )
        machines.append(second)
        second_home = rig.work / "machine-2"
        second_token = join(rig, second, second_home)
        assert second_token != first_token

        def healthy() -> dict | None:
            n = node(rig)
            return n if ready(n) == "True" and not health_taints(n) else None

        rejoined = wait_for(healthy, f"{NODE} Ready without its health taints", timeout=20)
        addresses = rejoined["status"]["addresses"]
        assert {"type": "InternalIP", "address": second.ip} in addresses, addresses
        assert {"type": "InternalIP", "address": first.ip} not in addresses, addresses

        # Its certificate was reissued through a CSR made with the new token.
        csrs = rig.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")["items"]
        mine = [
            c for c in csrs
            if c["spec"]["username"] == f"system:bootstrap:{second_token}"
            and c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
        ]  # fmt: skip
        assert len(mine) == 1 and mine[0]["status"].get("certificate"), mine
        second_cert = kubelet_client_cert(second_home)
        assert second_cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
        assert second_cert.serial_number != first_cert.serial_number
        # and it serves a certificate from the cluster CA for its new address.
        ca = x509.load_pem_x509_certificate(rig.cluster.ca.read_bytes())

        def serving() -> x509.Certificate | None:
            cert = served_certificate(second.ip, 10250)
            return cert if cert.issuer == ca.subject else None

        names = wait_for(
            serving, "the rejoined kubelet to serve a CA-issued certificate"
        ).extensions
        ips = names.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in ips.get_values_for_type(x509.IPAddress)] == [second.ip]

        # 4. The old pods are finalized by the new kubelet, not started again; exact replicas.
        wait_for(
            lambda: not [p for p in pods(rig) if p["metadata"]["uid"] in old_uids],
            "the rejoined kubelet to finalize the evicted pods",
            timeout=30,
        )
        final = pods(rig)
        assert len(final) == REPLICAS and len(running_on(final, SPARE)) == REPLICAS, [
            (p["metadata"]["name"], p["spec"].get("nodeName"), p["status"].get("phase"))
            for p in final
        ]
        assert started_events(rig, old_uids) == started_before
        rs = rig.get("/apis/apps/v1/namespaces/default/replicasets")["items"]
        assert [r["status"].get("replicas") for r in rs] == [REPLICAS], rs
        log = (second_home / "logs" / f"kubelet-{NODE}.log").read_text()
        assert "already registered" in log, log[-2000:]
    finally:
        if spare is not None:
            spare.stop()
        for machine in machines:
            netns.vanish(machine)
