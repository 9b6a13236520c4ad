"""Node lifecycle (lease expiry, taints, eviction, recovery) and leader election between
two controller-manager processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import times
from tests.support.api import Api
from tests.support.controllers import FAST_FLAGS, ControllerManager, live, now, pods
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


@pytest.fixture()
def controller_manager(apiserver: Apiserver, tmp_path: Path) -> Iterator[ControllerManager]:
    cm = ControllerManager(apiserver.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "cm.log")
    cm.start()
    yield cm
    assert cm.stop() == 0


def micro_now() -> str:
    return times.now_micro()


def create_node(api: Api, name: str) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    r = api.post("/api/v1/nodes", node)
    assert r.status_code == 201, r.text
    stamp = now()
    created = r.json()
    created["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        ]
    }
    assert api.put(f"/api/v1/nodes/{name}/status", created).status_code == 200
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()},
    }
    assert api.post(LEASES, lease).status_code == 201


def renew(api: Api, name: str) -> None:
    lease = api.get(f"{LEASES}/{name}").json()
    lease["spec"]["renewTime"] = micro_now()
    assert api.put(f"{LEASES}/{name}", lease).status_code == 200


def node(api: Api, name: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/nodes/{name}").json())


def ready(n: dict[str, Any]) -> str:
    return next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")


def taint_keys(n: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (n.get("spec") or {}).get("taints") or []}


def bind(api: Api, ns: str, pod: str, node_name: str) -> None:
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    }
    r = api.post(f"/api/v1/namespaces/{ns}/pods/{pod}/binding", binding)
    assert r.status_code == 201, r.text


def test_silent_node_is_tainted_and_its_pods_evicted_and_replaced(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    suffix = uuid.uuid4().hex[:6]
    lost, healthy = f"lost-{suffix}", f"healthy-{suffix}"
    create_node(api, lost)
    create_node(api, healthy)
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "rs"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "rs"}},
            "template": {
                "metadata": {"labels": {"app": "rs"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    assert api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets", rs).status_code == 201
    wait_for(lambda: len(live(pods(api, ns))) == 2, "2 pods")
    tolerant = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "tolerant"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "tolerations": [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                }
            ],
        },
    }
    assert api.post(f"/api/v1/namespaces/{ns}/pods", tolerant).status_code == 201
    first = live(pods(api, ns, "app=rs"))
    for p in first:
        bind(api, ns, p["metadata"]["name"], lost)
    bind(api, ns, "tolerant", lost)

    # healthy keeps renewing; lost goes silent past the 2s grace period
    def lost_unknown() -> bool:
        renew(api, healthy)
        return ready(node(api, lost)) == "Unknown"

    wait_for(lost_unknown, "the silent node Ready=Unknown", timeout=10, interval=0.3)
    wait_for(
        lambda: ("node.kubernetes.io/unreachable", "NoExecute") in taint_keys(node(api, lost)),
        "the unreachable taint",
    )
    assert ("node.kubernetes.io/unreachable", "NoSchedule") in taint_keys(node(api, lost))
    assert ready(node(api, healthy)) == "True" and not taint_keys(node(api, healthy))

    def evicted_and_replaced() -> bool:
        renew(api, healthy)
        current = pods(api, ns, "app=rs")
        old_names = {p["metadata"]["name"] for p in first}
        old_gone = all(
            p["metadata"].get("deletionTimestamp")
            for p in current
            if p["metadata"]["name"] in old_names
        )
        replacements = [p for p in live(current) if p["metadata"]["name"] not in old_names]
        return old_gone and len(replacements) == 2

    wait_for(evicted_and_replaced, "pods evicted and recreated", timeout=10, interval=0.3)
    for p in first:  # marked before the delete, as Kubernetes' taint manager does
        old = api.get(f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}").json()
        target = [c for c in old["status"]["conditions"] if c["type"] == "DisruptionTarget"]
        assert target and target[0]["reason"] == "DeletionByTaintManager", old["status"]
    assert (
        not api.get(f"/api/v1/namespaces/{ns}/pods/tolerant")
        .json()["metadata"]
        .get("deletionTimestamp")
    ), "a pod tolerating the taint forever stays"
    for p in live(pods(api, ns, "app=rs")):  # the scheduler's part, done by hand
        bind(api, ns, p["metadata"]["name"], healthy)

    # the lost node comes back: the unreachable taints go
    renew(api, lost)
    wait_for(
        lambda: (
            not {k for k, _ in taint_keys(node(api, lost))} & {"node.kubernetes.io/unreachable"}
        ),
        "the taints removed",
        timeout=5,
    )
    events = api.get("/api/v1/namespaces/default/events").json()["items"]
    events += api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    reasons = {e["reason"] for e in events}
    assert {"NodeNotReady", "TaintManagerEviction"} <= reasons
    for name in (lost, healthy):
        api.delete(f"/api/v1/nodes/{name}")
        api.delete(f"{LEASES}/{name}")


def test_only_the_leader_acts_and_a_follower_takes_over(
    api: Api, ns: str, apiserver: Apiserver, tmp_path: Path
) -> None:
    lease = f"cm-{uuid.uuid4().hex[:6]}"
    flags = [f for f in FAST_FLAGS if not f.startswith("--leader-elect")] + [
        "--leader-elect=true",
        "--leader-elect-resource-name",
        lease,
        "--leader-elect-lease-duration=3s",
        "--leader-elect-renew-deadline=2s",
        "--leader-elect-retry-period=0.3s",
        "--controllers=replicaset",
    ]
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    a = ControllerManager(kubeconfig, tmp_path / "a.log", extra_args=flags)
    b = ControllerManager(kubeconfig, tmp_path / "b.log", extra_args=flags)
    a.start(wait_ready=False)
    b.start(wait_ready=False)
    try:
        wait_for(lambda: a.ready() or b.ready(), "one of them to lead", timeout=15)
        leader, follower = (a, b) if a.ready() else (b, a)
        assert not follower.ready(), "exactly one leader"
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}"
        holder = api.get(path).json()["spec"]["holderIdentity"]
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "le"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "le"}},
                "template": {
                    "metadata": {"labels": {"app": "le"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        }
        assert api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets", rs).status_code == 201
        wait_for(lambda: len(pods(api, ns)) == 3, "3 pods from the leader")
        leader.kill()  # kill -9: no release; the follower waits for the lease to expire
        wait_for(follower.ready, "the follower to take over", timeout=15)
        assert api.get(path).json()["spec"]["holderIdentity"] != holder
        api.patch(
            f"/apis/apps/v1/namespaces/{ns}/replicasets/le",
            {"spec": {"replicas": 5}},
            "application/merge-patch+json",
        )
        wait_for(lambda: len(pods(api, ns)) == 5, "5 pods from the new leader")
        assert len(pods(api, ns)) == 5, "no duplicate creates"
    finally:
        a.stop()
        b.stop()
