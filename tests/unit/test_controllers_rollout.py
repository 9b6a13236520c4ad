"""Rolling-update arithmetic and Deployment status, as Kubernetes computes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minik8s.controllers import rollout
from minik8s.controllers import rollout_status as rs_status

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def deployment(
    replicas: int,
    surge: Any = "25%",
    unavailable: Any = "25%",
    strategy: str = "RollingUpdate",
    **status: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "strategy": {"type": strategy},
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "v1"}]},
        },
    }
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "metadata": {"name": "d", "namespace": "ns", "generation": 1, "uid": "d-uid"},
        "spec": spec,
        "status": status,
    }


def rs(name: str, replicas: int, available: int = 0, created: int = 0, **extra: Any) -> dict:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": f"2024-05-01T12:00:{created:02d}Z",
            "annotations": extra.pop("annotations", {}),
        },
        "spec": {"replicas": replicas},
        "status": {
            "replicas": replicas,
            "availableReplicas": available,
            "readyReplicas": available,
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        (3, 10, True, 3),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("0%", 10, True, 0),
        ("100%", 7, False, 7),
        ("50%", 1, True, 1),
        ("50%", 1, False, 0),
        ("10", 4, True, 10),
        (None, 5, True, 0),
    ],
)
def test_scaled_value_rounds_surge_up_and_unavailable_down(
    value: Any, total: int, up: bool, expected: int
) -> None:
    assert rollout.scaled_value(value, total, up) == expected


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),
        (1, 0, 3, (1, 0)),
        (0, 0, 3, (0, 1)),
        ("0%", "0%", 3, (0, 1)),
        ("25%", "25%", 1, (1, 0)),
        ("50%", "50%", 3, (2, 1)),
    ],
)
def test_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple) -> None:
    assert rollout.fenceposts(surge, unavailable, desired) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert rollout.max_unavailable(deployment(2, 0, 5)) == 2
    assert rollout.max_unavailable(deployment(3, strategy="Recreate")) == 0
    assert rollout.max_surge(deployment(3, strategy="Recreate")) == 0
    assert rollout.max_unavailable(deployment(0)) == 0


@pytest.mark.parametrize(
    ("replicas", "surge", "sizes", "new_size", "expected"),
    [
        (3, 1, [3], 0, 1),  # 3 old + surge 1: new gets 1
        (3, 1, [3, 1], 1, 1),  # at the cap already
        (10, "25%", [10], 0, 3),  # 13 allowed
        (3, 0, [2], 0, 1),  # old already scaled down by one
        (3, 1, [0], 2, 3),
    ],  # never past spec.replicas
)
def test_new_rs_new_replicas(
    replicas: int, surge: Any, sizes: list[int], new_size: int, expected: int
) -> None:
    d = deployment(replicas, surge, 0 if surge else 1)
    all_rss = [rs(f"r{i}", s) for i, s in enumerate(sizes)]
    assert rollout.new_rs_new_replicas(d, all_rss, new_size) == expected


def test_new_rs_for_recreate_is_full_size() -> None:
    assert rollout.new_rs_new_replicas(deployment(4, strategy="Recreate"), [rs("a", 4)], 0) == 4


def test_old_scale_down_respects_max_unavailable_zero() -> None:
    d = deployment(3, 1, 0)
    old = rs("old", 3, available=3)
    new = rs("new", 1, available=0, created=5)
    assert rollout.old_rs_scale_down(d, new, [old]) == {}, "the new pod is not available yet"
    new = rs("new", 1, available=1, created=5)
    assert rollout.old_rs_scale_down(d, new, [old]) == {"old": 2}


def test_old_scale_down_removes_unhealthy_pods_first_then_oldest_sets() -> None:
    d = deployment(4, 0, 2)
    older = rs("older", 2, available=1, created=1)
    old = rs("old", 2, available=2, created=2)
    new = rs("new", 0, created=3)
    # 4 pods, 3 available, min available 2: the unhealthy pod goes first, then one
    # available pod from the oldest set
    assert rollout.old_rs_scale_down(d, new, [old, older]) == {"older": 0}
    healthy = rs("older", 2, available=2, created=1)
    assert rollout.old_rs_scale_down(d, new, [old, healthy]) == {"older": 0}
    assert rollout.old_rs_scale_down(deployment(4, 0, 3), new, [old, healthy]) == {
        "older": 0,
        "old": 1,
    }


def test_old_scale_down_nothing_when_no_old_pods() -> None:
    assert rollout.old_rs_scale_down(deployment(3), rs("new", 3, 3), [rs("old", 0)]) == {}


def test_proportional_scaling_of_a_single_active_set() -> None:
    d = deployment(5)
    assert rollout.proportional_sizes(d, rs("new", 3, 3), [rs("old", 0)]) == {"new": 5}
    assert rollout.proportional_sizes(d, rs("new", 5, 5), []) == {}


def test_proportional_scaling_mid_rollout() -> None:
    # was 10 (+3 surge = 13): new 5, old 8; scaled to 20 (+5 surge = 25): add 12
    annotations = {rollout.MAX_REPLICAS: "13", rollout.DESIRED_REPLICAS: "10"}
    new = rs("new", 5, 0, created=2, annotations=annotations)
    old = rs("old", 8, 8, created=1, annotations=annotations)
    sizes = rollout.proportional_sizes(deployment(20), new, [old])
    assert sum(sizes.values()) == 25
    assert sizes == {"old": 15, "new": 10}


def test_scaling_event_detection() -> None:
    sized_for_3 = rs("a", 3, annotations={rollout.DESIRED_REPLICAS: "3"})
    assert not rollout.is_scaling_event(deployment(3), [sized_for_3])
    assert rollout.is_scaling_event(deployment(4), [sized_for_3])
    assert not rollout.is_scaling_event(deployment(4), [rs("b", 0)])


def test_template_hash_ignores_the_hash_label_and_empty_fields() -> None:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "v1"}]}}
    same = {
        "metadata": {"labels": {"app": "x", rollout.HASH_LABEL: "abc"}, "creationTimestamp": None},
        "spec": {"containers": [{"image": "v1", "resources": {}}]},
    }
    assert rollout.templates_equal(template, same)
    assert rollout.template_hash(template) == rollout.template_hash(same)
    other = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "v2"}]}}
    assert rollout.template_hash(template) != rollout.template_hash(other)
    assert rollout.template_hash(template, 1) != rollout.template_hash(template)
    assert set(rollout.template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_find_new_rs_and_manifest() -> None:
    d = deployment(3)
    manifest = rollout.new_rs_manifest(d, [rs("old", 1, annotations={rollout.REVISION: "4"})], 0, 1)
    h = manifest["spec"]["template"]["metadata"]["labels"][rollout.HASH_LABEL]
    assert manifest["metadata"]["name"] == f"d-{h}"
    assert manifest["spec"]["selector"]["matchLabels"][rollout.HASH_LABEL] == h
    assert manifest["metadata"]["annotations"][rollout.REVISION] == "5"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert rollout.find_new_rs(d, [rs("x", 1), manifest]) is manifest


def test_history_to_delete_keeps_the_limit() -> None:
    d = deployment(1)
    d["spec"]["revisionHistoryLimit"] = 1
    olds = [rs(f"r{i}", 0, annotations={rollout.REVISION: str(i)}) for i in (1, 2, 3)]
    olds.append(rs("busy", 1, 1, annotations={rollout.REVISION: "0"}))
    doomed = [r["metadata"]["name"] for r in rollout.history_to_delete(d, olds)]
    assert doomed == ["r1", "r2"], "lowest revisions first; the busy one is never deleted"


def test_status_and_conditions_as_kubectl_reads_them() -> None:
    d = deployment(3, 1, 0)
    new = rs("new", 3, 3)
    s = rs_status.rollout_status(d, [rs("old", 0), new], new, T0)
    assert s["replicas"] == s["updatedReplicas"] == s["availableReplicas"] == 3
    assert s["unavailableReplicas"] == 0 and s["observedGeneration"] == 1
    progressing = rs_status.get_condition(s, "Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"
    assert rs_status.get_condition(s, "Available")["status"] == "True"  # type: ignore[index]


def test_progress_deadline_exceeded() -> None:
    d = deployment(2)
    d["spec"]["progressDeadlineSeconds"] = 10
    new = rs("new", 2, 0)
    first = rs_status.rollout_status(d, [new], new, T0)
    assert rs_status.get_condition(first, "Progressing")["reason"] == "ReplicaSetUpdated"  # type: ignore[index]
    d["status"] = first
    later = rs_status.rollout_status(d, [new], new, T0 + timedelta(seconds=11))
    condition = rs_status.get_condition(later, "Progressing")
    assert condition is not None and condition["reason"] == "ProgressDeadlineExceeded"
    assert condition["status"] == "False"
    assert rs_status.get_condition(later, "Available")["status"] == "False"  # type: ignore[index]
    assert rs_status.seconds_to_deadline(d, first, T0) == pytest.approx(10.5)


def test_set_condition_keeps_transition_time_when_status_holds() -> None:
    status: dict[str, Any] = {}
    rs_status.set_condition(status, "Progressing", "True", "A", "a", T0)
    rs_status.set_condition(status, "Progressing", "True", "B", "b", T0 + timedelta(seconds=5))
    (condition,) = status["conditions"]
    assert condition["reason"] == "B"
    assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert condition["lastUpdateTime"] == "2024-05-01T12:00:05Z"


def test_paused_condition() -> None:
    d = deployment(1)
    d["spec"]["paused"] = True
    status: dict[str, Any] = {"conditions": []}
    rs_status.paused_condition(d, status, T0)
    assert status["conditions"][0]["reason"] == "DeploymentPaused"
    d["spec"]["paused"] = False
    rs_status.paused_condition(d, status, T0)
    assert status["conditions"][0]["reason"] == "DeploymentResumed"
