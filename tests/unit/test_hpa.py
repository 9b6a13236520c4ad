"""The horizontal pod autoscaler's decisions (pure): replica calculation, stabilization,
behavior policies, bounds and conditions, as Kubernetes computes them."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.controllers import hpa_plan, hpa_replicas

NOW = 1_000_000.0
TIMING = hpa_replicas.Timing(NOW)


def pod(name: str, cpu: str = "100m", ready: bool = True, phase: str = "Running",
        started: float = NOW - 3600) -> dict[str, Any]:  # fmt: skip
    from minik8s.api import times

    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {
            "phase": phase,
            "startTime": times.format_timestamp(started),
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": times.format_timestamp(started + 5)}
            ],
        },
    }  # fmt: skip


def samples(**millicores: int) -> dict[str, hpa_replicas.Sample]:
    return {n: hpa_replicas.Sample(v, NOW - 1, 15.0) for n, v in millicores.items()}


def test_ratio_scales_up_and_tolerance_keeps_the_count() -> None:
    pods = [pod("a"), pod("b")]
    up = hpa_replicas.resource_replicas(2, 50, "cpu", pods, samples(a=100, b=100), 0.1, TIMING)
    assert (up.replicas, up.utilization, up.average) == (4, 100, 100)
    same = hpa_replicas.resource_replicas(2, 50, "cpu", pods, samples(a=52, b=52), 0.1, TIMING)
    assert same.replicas == 2
    down = hpa_replicas.resource_replicas(2, 50, "cpu", pods, samples(a=10, b=10), 0.1, TIMING)
    assert down.replicas == 1


def test_missing_and_unready_pods_are_assumed_conservatively() -> None:
    pods = [pod("a"), pod("b"), pod("c", phase="Pending")]
    # scaling up: the pending pod counts as using nothing
    up = hpa_replicas.resource_replicas(3, 50, "cpu", pods, samples(a=100, b=100), 0.1, TIMING)
    assert up.replicas == 4  # 200m of 300m requested: 67% for 50%, x1.33 over 3 pods
    # scaling down: a pod without a sample is assumed at its full request
    low = hpa_replicas.resource_replicas(
        2, 50, "cpu", [pod("a"), pod("b")], samples(a=10), 0.1, TIMING
    )
    assert low.replicas == 2  # (10 + 100) / 200 = 55%: within tolerance of 50%


def test_a_container_without_a_request_is_an_error() -> None:
    bare = pod("a")
    del bare["spec"]["containers"][0]["resources"]
    with pytest.raises(hpa_replicas.MetricError, match="missing request for cpu in container c"):
        hpa_replicas.resource_replicas(1, 50, "cpu", [bare], samples(a=10), 0.1, TIMING)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    history = hpa_plan.History()
    first = hpa_plan.normalize(history, 4, 4, 1, 10, 300, NOW)
    assert first.replicas == 4 and first.able_to_scale.reason == "ReadyForNewScale"
    later = hpa_plan.normalize(history, 4, 1, 1, 10, 300, NOW + 60)
    assert later.replicas == 4 and later.able_to_scale.reason == "ScaleDownStabilized"
    after = hpa_plan.normalize(history, 4, 1, 1, 10, 300, NOW + 400)
    assert after.replicas == 1


def test_bounds_and_the_scale_up_limit() -> None:
    history = hpa_plan.History()
    decision = hpa_plan.normalize(history, 1, 20, 1, 5, 0, NOW)
    assert decision.replicas == 4
    assert decision.scaling_limited == hpa_plan.Condition(
        "ScalingLimited", "True", "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate",
    )  # fmt: skip
    capped = hpa_plan.normalize(hpa_plan.History(), 4, 20, 1, 5, 0, NOW)
    assert capped.replicas == 5 and capped.scaling_limited.reason == "TooManyReplicas"
    within = hpa_plan.normalize(hpa_plan.History(), 2, 3, 1, 5, 0, NOW)
    assert within.scaling_limited.status == "False"
    assert within.scaling_limited.reason == "DesiredWithinRange"


def test_behavior_policies_limit_the_rate() -> None:
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
        "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]},
    }  # fmt: skip
    history = hpa_plan.History()
    up = hpa_plan.normalize_with_behavior(history, 2, 10, 1, 10, behavior, 300, NOW)
    assert up.replicas == 3 and up.scaling_limited.reason == "ScaleUpLimit"
    hpa_plan.record_scale(history, 2, 3, behavior, NOW)
    again = hpa_plan.normalize_with_behavior(history, 3, 10, 1, 10, behavior, 300, NOW + 10)
    assert again.replicas == 3  # one pod per minute, already used
    down = hpa_plan.normalize_with_behavior(hpa_plan.History(), 8, 1, 1, 10, behavior, 300, NOW)
    assert down.replicas == 4 and down.scaling_limited.reason == "ScaleDownLimit"
    disabled = {**behavior, "scaleDown": {"selectPolicy": "Disabled", "policies": []}}
    held = hpa_plan.normalize_with_behavior(hpa_plan.History(), 8, 1, 1, 10, disabled, 0, NOW)
    assert held.replicas == 8


def test_conditions_keep_their_transition_time_until_status_flips() -> None:
    first = hpa_plan.set_condition([], hpa_plan.Condition("AbleToScale", "True", "A", "a"), "T1")
    second = hpa_plan.set_condition(
        first, hpa_plan.Condition("AbleToScale", "True", "B", "b"), "T2"
    )
    assert second[0]["lastTransitionTime"] == "T1" and second[0]["reason"] == "B"
    third = hpa_plan.set_condition(
        second, hpa_plan.Condition("AbleToScale", "False", "C", "c"), "T3"
    )
    assert third[0]["lastTransitionTime"] == "T3"
