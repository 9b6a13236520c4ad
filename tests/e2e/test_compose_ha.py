"""The docker-compose HA layout end to end (deploy/docker-compose.ha.yml; `make test-compose`).

`docker-compose up -d` of docker-compose.yml + docker-compose.ha.yml (3 etcd members with peer
TLS, apiserver-1..3 behind HAProxy, 2 schedulers, 2 controller-managers, 2 cloud controller
managers, 2 nodes) → /readyz through the load balancer, the leader-election Leases held, every
apiserver in the `kubernetes` Endpoints, a pod Running on a node → `docker kill` of the
apiserver that serves the test's connection and of one etcd member (another apiserver's first
endpoint) while kubectl writes through the load balancer every ~0.5 s → at most two of those
requests fail (issue 22's target is one: see the assertion), and a new pod runs → `down -v`
leaves nothing of the project.

One cluster start-up for the whole file; its own project name and API port (test_compose.py's
machinery), so it never touches a cluster a developer started with `make compose-ha-up`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_compose import Api, Cluster, node_ready, running
from tests.support import compose
from tests.support.compose import DEPLOY, IMAGES
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(400)]

NS = "compose-ha-e2e"
APISERVERS = ("apiserver-1", "apiserver-2", "apiserver-3")
EXPLAIN_SERVICES = (
    "apiserver", *APISERVERS, "etcd-1", "etcd-2", "etcd-3", "scheduler", "scheduler-2",
    "controller-manager", "controller-manager-2", "node-1", "node-2",
)  # fmt: skip
"""Whose logs a failure prints (`apiserver` is HAProxy: its view of the apiservers)."""
READY = "status.conditions[?(@.type=='Ready')]"
EXPLAIN_KUBECTL = (
    ("describe", "pod", "-n", NS, "after"),
    ("get", "nodes", "-o", "wide"),
    ("get", "nodes", "-o", f"custom-columns=NAME:.metadata.name,READY:.{READY}.status,"
     f"REASON:.{READY}.reason,HEARTBEAT:.{READY}.lastHeartbeatTime,TAINTS:.spec.taints[*].key"),
    ("get", "leases", "-n", "kube-node-lease", "-o",
     "custom-columns=NAME:.metadata.name,RENEWED:.spec.renewTime"),
    ("get", "leases", "-n", "kube-system"),  # who leads the scheduler and controller-managers
    ("get", "pods", "-A", "-o", "wide"),
    ("get", "--raw", "/readyz?verbose"),
)  # fmt: skip
TIMINGS: dict[str, float] = {}


class HaCluster(Cluster):
    """test_compose's cluster with docker-compose.ha.yml over docker-compose.yml."""

    def __init__(self, compose: list[str], work: Path) -> None:
        super().__init__(compose, work)
        self.project = f"minik8s-e2e-ha-{secrets.token_hex(3)}"
        self.compose = [
            *compose, "-p", self.project,
            "-f", str(DEPLOY / "docker-compose.yml"), "-f", str(DEPLOY / "docker-compose.ha.yml"),
        ]  # fmt: skip
        for key in ("MINIK8S_ETCD_CLUSTER", "MINIK8S_ETCD_SERVERS"):
            self.env.pop(key, None)  # the HA file sets the members itself
        self.env["COMPOSE_PROFILES"] = "etcd-ha"

    def kubectl(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.work / "kubeconfig"), "--request-timeout=5s",
             *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[HaCluster]:
    with compose.started(
        request, HaCluster, images=(*IMAGES, "minik8s/haproxy"),
        work_prefix="minik8s-compose-ha-", up_timeout=300,
        timings=TIMINGS, timings_label="compose HA timings",
        log_services=("apiserver", *APISERVERS, "etcd-1", "scheduler", "node-1"),
        log_tail=30, log_chars=4000,
    ) as cluster:  # fmt: skip
        cluster.api = Api(cluster.work / "kubeconfig")
        yield cluster


def pod(name: str) -> dict:
    sleeper = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "minik8s/busybox:latest",
                            "imagePullPolicy": "Never", "command": sleeper}],
        },
    }  # fmt: skip


def running_on_a_node(api: Api, name: str) -> dict | None:
    found = api.get(f"/api/v1/namespaces/{NS}/pods/{name}")
    return found if running(found) and found["spec"].get("nodeName") else None


def create_pod(api: Api, name: str) -> bool:
    response = api.http.post(f"/api/v1/namespaces/{NS}/pods", json=pod(name))
    return response.status_code in (201, 409)  # 409: an earlier attempt got through


def serving_apiserver(cluster: HaCluster) -> str:
    """The apiserver behind the test's own keep-alive connection: the one whose audit log
    holds a request only that connection made."""
    api = cluster.api
    assert api is not None
    marker = f"ha-marker-{secrets.token_hex(4)}"
    assert api.status(f"/api/v1/namespaces/{NS}/configmaps/{marker}") == 404

    def which() -> str | None:
        for name in APISERVERS:
            found = subprocess.run(
                ["docker", "exec", cluster.container(name), "grep", "-q", marker,
                 "/var/log/minik8s/audit.log"],
                capture_output=True, check=False,
            )  # fmt: skip
            if found.returncode == 0:
                return name
        return None

    return wait_for(which, f"the audit event of {marker} in one apiserver's log", 20, 0.5)


class Writer(threading.Thread):
    """kubectl writes a ConfigMap through the load balancer every ~0.5 s, each a new
    connection (HAProxy's round robin spreads them over the apiservers), and records each
    outcome."""

    def __init__(self, cluster: HaCluster) -> None:
        super().__init__(name="kubectl-writer", daemon=True)
        self.cluster = cluster
        self.results: list[tuple[float, bool, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            i += 1
            started = time.monotonic()
            result = self.cluster.kubectl(
                "-n", NS, "create", "configmap", f"write-{i}", f"--from-literal=i={i}"
            )
            ok = result.returncode == 0
            self.results.append((started, ok, "" if ok else result.stderr.strip()[-300:]))
            self.halt.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    def after(self, moment: float) -> list[tuple[float, bool, str]]:
        return [r for r in self.results if r[0] >= moment]


def test_no_running_container_holds_etcds_ca_key(cluster: HaCluster) -> None:
    """As in the single layout: etcd's CA key is under no mount of an apiserver, an etcd member
    (its peer certificate's volume included) or the load balancer; only the exited `init`'s."""
    mounted = {
        service: compose.mounted_files(cluster.container(service))
        for service in ("apiserver-1", "etcd-1", "apiserver")
    }
    ca = mounted["apiserver-1"]["/etcd-pki/ca.crt"]
    for service, files in mounted.items():
        assert compose.holders_of_key(files, ca) == [], service
    init = compose.mounted_files(cluster.run("ps", "-a", "-q", "init").stdout.strip())
    assert compose.holders_of_key(init, ca) == ["/state/pki/etcd/ca.key"]


def test_ha_cluster_serves_through_the_load_balancer_and_survives_kills(
    cluster: HaCluster,
) -> None:
    api = cluster.api
    assert api is not None
    started = time.monotonic()

    def nodes_ready() -> list[str]:
        nodes = api.get("/api/v1/nodes")["items"]
        ready = sorted(n["metadata"]["name"] for n in nodes if node_ready(n))
        return ready if ready == ["node-1", "node-2"] else []

    wait_for(nodes_ready, "node-1 and node-2 Ready through the load balancer", 150, 1)
    TIMINGS["up to nodes Ready"] = TIMINGS["up -d"] + time.monotonic() - started

    readyz = cluster.kubectl("get", "--raw", "/readyz")
    assert readyz.returncode == 0 and readyz.stdout.strip() == "ok", readyz.stderr

    def leases_held() -> dict[str, str]:
        result = cluster.kubectl("get", "leases", "-n", "kube-system", "-o", "json")
        assert result.returncode == 0, result.stderr
        holders = {
            lease["metadata"]["name"]: lease["spec"].get("holderIdentity") or ""
            for lease in json.loads(result.stdout)["items"]
        }
        wanted = ("minik8s-scheduler", "minik8s-controller-manager", "cloud-controller-manager")
        return holders if all(holders.get(name) for name in wanted) else {}

    holders = wait_for(leases_held, "the three leader-election Leases held", 30, 1)
    print("lease holders:", holders)

    def three_endpoints() -> list[str]:
        endpoints = api.get("/api/v1/namespaces/default/endpoints/kubernetes")
        addresses = [a["ip"] for s in endpoints.get("subsets") or [] for a in s["addresses"]]
        return addresses if len(addresses) == 3 else []

    wait_for(three_endpoints, "every apiserver in the `kubernetes` Endpoints", 30, 1)

    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    api.create(f"/api/v1/namespaces/{NS}/pods", pod("before"))
    before = wait_for(lambda: running_on_a_node(api, "before"), "pod `before` Running", 90, 1)
    TIMINGS["first pod Running"] = TIMINGS["up -d"] + time.monotonic() - started

    serving = serving_apiserver(cluster)
    member = (
        f"etcd-{(APISERVERS.index(serving) + 1) % 3 + 1}"  # the next apiserver's first endpoint
    )
    print(f"pod `before` on {before['spec']['nodeName']}; killing {serving} and {member}")

    writer = Writer(cluster)
    writer.start()
    try:
        wait_for(lambda: len(writer.results) >= 3, "three writes through the load balancer", 30)
        assert all(ok for _, ok, _ in writer.results), writer.results
        killed = time.monotonic()
        print(f"killing at {time.strftime('%H:%M:%S', time.gmtime())} UTC")
        for service in (serving, member):
            subprocess.run(["docker", "kill", cluster.container(service)], check=True,
                           capture_output=True, timeout=30)  # fmt: skip

        # the test's own connection was cut with its apiserver: a new one goes to another (a
        # client retries: HAProxy may hand the first connection to the dead one before its
        # checks take it out; the writer counts those failures)
        api.http.close()
        cluster.api = api = Api(cluster.work / "kubeconfig")
        with compose.explained(cluster, services=EXPLAIN_SERVICES, kubectl=EXPLAIN_KUBECTL):
            wait_for(lambda: create_pod(api, "after"), "pod `after` created", 30, 0.5)
            after = wait_for(lambda: running_on_a_node(api, "after"), "pod `after` Running", 90, 1)
        TIMINGS["kill -> new pod Running"] = time.monotonic() - killed
        marked = cluster.kubectl("get", "events", "-A", "--field-selector=reason=NodeNotReady",
                                 "-o", "name")  # fmt: skip
        print(f"NodeNotReady events (late heartbeats during the kills): {marked.stdout.split()}")
        wait_for(lambda: len(writer.after(killed)) >= 10, "ten writes after the kills", 30, 0.2)
        wait_for(lambda: writer.results[-1][1], "the latest write to succeed", 10, 0.2)
    finally:
        writer.halt.set()
        writer.join(timeout=30)
    failed = [(round(t - killed, 1), error) for t, ok, error in writer.after(killed) if not ok]
    print(f"writes after the kills: {len(writer.after(killed))}, failed: {failed}")
    # Two kills at once, at most one failed request each (issue 22); measured: an EOF from the
    # killed apiserver before HAProxy's checks take it out, and one 5 s client timeout while
    # an apiserver fails over from the killed etcd member.
    assert len(failed) <= 2, f"more than one failed request per kill (two kills): {failed}"
    assert after["spec"]["nodeName"] in ("node-1", "node-2")

    readyz = cluster.kubectl("get", "--raw", "/readyz")
    assert readyz.returncode == 0 and readyz.stdout.strip() == "ok", readyz.stderr


def test_down_removes_everything(cluster: HaCluster) -> None:
    started = time.monotonic()
    cluster.down()
    TIMINGS["down -v"] = time.monotonic() - started
    assert cluster.leftovers() == []
