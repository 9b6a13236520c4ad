"""ReplicaSet planning: claims, slow start, deletion ranking, status; and expectations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minik8s.controllers import replicaset_plan as plan
from minik8s.controllers.expectations import Expectations

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pod(
    name: str,
    node: str | None = None,
    phase: str = "Running",
    ready: bool = False,
    created: int = 0,
    ready_at: int = 0,
    restarts: int = 0,
    owner: str | None = None,
    labels: dict | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "creationTimestamp": f"2024-05-01T11:00:{created:02d}Z",
        "labels": labels if labels is not None else {"app": "x"},
    }
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet"}]
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastTransitionTime": f"2024-05-01T11:30:{ready_at:02d}Z",
        }
    ]
    return {
        "metadata": meta,
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


def replicaset(replicas: int = 3, min_ready: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "rs", "generation": 2},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x", "tier": "t"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("total", "batches"),
    [(0, []), (1, [1]), (3, [1, 2]), (7, [1, 2, 4]), (10, [1, 2, 4, 3]), (16, [1, 2, 4, 8, 1])],
)
def test_slow_start_batches(total: int, batches: list[int]) -> None:
    assert plan.slow_start_batches(total) == batches


def test_claim_owned_adopt_release() -> None:
    pods = [
        pod("mine", owner="rs"),
        pod("orphan"),
        pod("other", owner="someone"),
        pod("moved", owner="rs", labels={"app": "y"}),
        pod("stranger", labels={"app": "y"}),
    ]
    claim = plan.claim_pods(replicaset(), pods)
    assert [p["metadata"]["name"] for p in claim.owned] == ["mine"]
    assert [p["metadata"]["name"] for p in claim.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in claim.release] == ["moved"]


def test_the_controller_index_holds_every_pod_a_claim_can_touch() -> None:
    """Claiming from the owner's uid bucket and the namespace's orphans gives what claiming
    from every pod of the namespace gives (Kubernetes' PodControllerUIDIndex)."""
    rs = replicaset()
    pods = [
        pod("mine", owner="rs"),
        pod("orphan"),
        pod("other", owner="someone"),
        pod("moved", owner="rs", labels={"app": "y"}),
    ]
    buckets: dict[str, list[dict]] = {}
    for p in pods:
        p["metadata"]["namespace"] = "ns"
        for value in plan.index_pod_controller(p):
            buckets.setdefault(value, []).append(p)
    ns = rs["metadata"]["namespace"]
    indexed = buckets.get(rs["metadata"]["uid"], []) + buckets.get(f"orphan/{ns}", [])
    assert plan.claim_pods(rs, indexed) == plan.claim_pods(rs, pods)


def test_a_deleting_owner_adopts_nothing() -> None:
    rs = replicaset()
    rs["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    assert plan.claim_pods(rs, [pod("orphan")]).adopt == []


def test_deletion_prefers_unscheduled_then_pending_then_not_ready_then_newest() -> None:
    pods = [
        pod("ready-old", node="n1", ready=True, created=1, ready_at=1),
        pod("ready-new", node="n2", ready=True, created=5, ready_at=1),
        pod("not-ready", node="n3", ready=False, created=1),
        pod("pending", node="n4", phase="Pending", created=1),
        pod("unscheduled", phase="Pending", created=1),
    ]
    order = [p["metadata"]["name"] for p in plan.pods_to_delete(pods, 5)]
    assert order == ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"]
    assert len(plan.pods_to_delete(pods, 2)) == 2
    assert plan.pods_to_delete(pods, 0) == []


def test_deletion_prefers_doubled_up_nodes_shorter_readiness_and_restarts() -> None:
    doubled = [
        pod("d1", node="a", ready=True, ready_at=1),
        pod("d2", node="a", ready=True, ready_at=1),
    ]
    alone = pod("alone", node="b", ready=True, ready_at=1)
    assert plan.pods_to_delete([alone, *doubled], 1)[0]["metadata"]["name"] in {"d1", "d2"}
    recent = pod("recent", node="c", ready=True, ready_at=9)
    long_ready = pod("long", node="d", ready=True, ready_at=1)
    assert plan.pods_to_delete([long_ready, recent], 1)[0]["metadata"]["name"] == "recent"
    crashy = pod("crashy", node="e", ready=True, ready_at=1, restarts=4)
    assert plan.pods_to_delete([long_ready, crashy], 1)[0]["metadata"]["name"] == "crashy"


def test_new_pod_from_template() -> None:
    new = plan.new_pod(replicaset())
    assert new["metadata"]["generateName"] == "web-"
    assert new["metadata"]["labels"] == {"app": "x", "tier": "t"}
    ref = new["metadata"]["ownerReferences"][0]
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": "rs",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_status_counts_and_min_ready_seconds() -> None:
    pods = [
        pod("a", ready=True, ready_at=0, labels={"app": "x", "tier": "t"}),
        pod("b", ready=True, ready_at=0),
        pod("c"),
    ]
    status = plan.calculate_status(replicaset(), pods, NOW)
    assert status == {
        "replicas": 3,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 2,
    }
    # ready since 11:30:00; at 12:00 that is 1800s
    assert plan.calculate_status(replicaset(min_ready=3600), pods, NOW)["availableReplicas"] == 0
    assert plan.next_availability_check(replicaset(min_ready=3600), pods, NOW) == pytest.approx(
        1800.1
    )
    failed = plan.calculate_status(replicaset(), pods, NOW, failure="quota")
    assert failed["conditions"][0]["reason"] == "FailedCreate"


def test_expectations() -> None:
    clock = [0.0]
    e = Expectations(ttl=10, clock=lambda: clock[0])
    assert e.satisfied("k")
    e.expect_creations("k", 3)
    assert not e.satisfied("k")
    e.creation_observed("k")
    e.creation_observed("k")
    assert e.pending("k") == (1, 0)
    e.creations_skipped("k", 1)
    assert e.satisfied("k")
    e.expect_deletions("k", ["u1", "u2"])
    e.deletion_observed("k", "u1")
    assert not e.satisfied("k")
    clock[0] = 11.0
    assert e.satisfied("k"), "expired expectations do not block forever"
    e.forget("k")
    assert e.pending("k") == (0, 0)
