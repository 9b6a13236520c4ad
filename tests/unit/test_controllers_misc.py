"""Endpoints, garbage collector, node lifecycle and config decisions."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minik8s.api import meta
from minik8s.controllers import config, endpoints_plan, gc_plan, nodelifecycle_plan
from minik8s.controllers.gc_plan import Action, OwnerState

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pod(name: str, ip: str | None, ready: bool, app: str = "web", **extra: Any) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"u-{name}",
            "labels": {"app": app},
            **extra,
        },
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(**spec: Any) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "ns", "labels": {"l": "v"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            **spec,
        },
    }


def test_endpoints_label_indexes_meet_on_a_shared_pair() -> None:
    """The controller finds a Service's pods, and a pod's Services, through these indexes: a
    pod and a Service that selects it always share the index value of each selector pair."""
    svc = service(selector={"app": "web", "tier": "front"})
    matching = pod("a", "10.0.0.1", True)
    matching["metadata"]["labels"]["tier"] = "front"
    other_ns = pod("b", "10.0.0.2", True)
    other_ns["metadata"]["namespace"] = "elsewhere"
    assert endpoints_plan.index_service_selector(svc) == ["ns/app=web", "ns/tier=front"]
    assert set(endpoints_plan.index_service_selector(svc)) <= set(
        endpoints_plan.index_pod_labels(matching)
    )
    assert not set(endpoints_plan.index_service_selector(svc)) & set(
        endpoints_plan.index_pod_labels(other_ns)
    )
    # a candidate sharing only one pair is still tested against the whole selector
    half = pod("c", "10.0.0.3", True)
    subsets = endpoints_plan.desired_subsets(svc, [matching, half])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.1"]
    assert endpoints_plan.desired_subsets(service(selector={}), [matching]) == []


def test_endpoints_split_ready_and_not_ready() -> None:
    pods = [
        pod("a", "10.0.0.10", True),
        pod("b", "10.0.0.9", True),
        pod("c", "10.0.0.3", False),
        pod("no-ip", None, True),
        pod("other", "10.0.0.4", True, app="db"),
        pod("gone", "10.0.0.5", True, deletionTimestamp="2024-05-01T12:00:00Z"),
    ]
    (subset,) = endpoints_plan.desired_subsets(service(), pods)
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.9", "10.0.0.10"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.3"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert subset["addresses"][0]["targetRef"] == {
        "kind": "Pod",
        "namespace": "ns",
        "name": "b",
        "uid": "u-b",
    }
    assert subset["addresses"][0]["nodeName"] == "n1"


def test_endpoints_numeric_target_port_and_publish_not_ready() -> None:
    svc = service(
        publishNotReadyAddresses=True, ports=[{"port": 80, "targetPort": 9090, "protocol": "TCP"}]
    )
    (subset,) = endpoints_plan.desired_subsets(svc, [pod("c", "10.0.0.3", False)])
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.3"]
    assert subset["ports"] == [{"port": 9090, "protocol": "TCP"}]


def test_endpoints_unresolvable_named_port_skips_the_pod() -> None:
    svc = service(ports=[{"name": "x", "port": 80, "targetPort": "metrics", "protocol": "TCP"}])
    assert endpoints_plan.desired_subsets(svc, [pod("a", "10.0.0.1", True)]) == []
    assert not endpoints_plan.selects_pods({"spec": {}})


@pytest.mark.parametrize(
    ("states", "has_dependents", "action", "dangling"),
    [
        ({"a": OwnerState.PRESENT}, False, Action.NONE, []),
        ({"a": OwnerState.ABSENT}, False, Action.DELETE_BACKGROUND, ["a"]),
        ({"a": OwnerState.PRESENT, "b": OwnerState.ABSENT}, False, Action.REMOVE_REFERENCES, ["b"]),
        ({"a": OwnerState.DELETING_FOREGROUND}, True, Action.DELETE_FOREGROUND, []),
        ({"a": OwnerState.DELETING_FOREGROUND}, False, Action.DELETE_BACKGROUND, []),
        ({"a": OwnerState.UNKNOWN, "b": OwnerState.ABSENT}, False, Action.REMOVE_REFERENCES, ["b"]),
        ({}, False, Action.NONE, []),
    ],
)
def test_gc_decisions(states: dict, has_dependents: bool, action: Action, dangling: list) -> None:
    decision = gc_plan.decide(states, has_dependents)
    assert decision.action is action and decision.dangling == dangling


def test_gc_owner_state_and_finalizers() -> None:
    ref = {"uid": "u1"}
    assert gc_plan.owner_state(None, ref) is OwnerState.ABSENT
    assert gc_plan.owner_state({"metadata": {"uid": "u2"}}, ref) is OwnerState.ABSENT
    assert gc_plan.owner_state({"metadata": {"uid": "u1"}}, ref) is OwnerState.PRESENT
    deleting = {
        "metadata": {"uid": "u1", "deletionTimestamp": "x", "finalizers": ["foregroundDeletion"]}
    }
    assert gc_plan.owner_state(deleting, ref) is OwnerState.DELETING_FOREGROUND
    assert gc_plan.pending_gc_finalizer(deleting) == "foregroundDeletion"
    assert gc_plan.pending_gc_finalizer({"metadata": {"finalizers": ["orphan"]}}) is None
    dependent = {
        "metadata": {"ownerReferences": [{"uid": "u1", "blockOwnerDeletion": True}, {"uid": "u2"}]}
    }
    assert gc_plan.blocks(dependent, "u1") and not gc_plan.blocks(dependent, "u2")
    assert meta.remove_owner_reference(dependent, "u1")
    assert meta.owner_references(dependent) == [{"uid": "u2"}]


def node(ready: str = "True", taints: list | None = None) -> dict:
    return {
        "metadata": {"name": "n1"},
        "spec": {"taints": taints or []},
        "status": {
            "conditions": [
                {"type": "Ready", "status": ready, "lastHeartbeatTime": "2024-05-01T11:59:00Z"},
                {"type": "MemoryPressure", "status": "False"},
            ]
        },
    }


def test_silent_node_conditions_become_unknown_once() -> None:
    conditions = nodelifecycle_plan.silent_conditions(node(), NOW)
    assert conditions is not None
    assert {c["type"]: c["status"] for c in conditions} == {
        "Ready": "Unknown",
        "MemoryPressure": "Unknown",
    }
    assert conditions[0]["reason"] == "NodeStatusUnknown"
    assert conditions[0]["lastHeartbeatTime"] == "2024-05-01T11:59:00Z"
    silent = {"status": {"conditions": conditions}}
    assert nodelifecycle_plan.silent_conditions(silent, NOW) is None


def test_health_taints() -> None:
    keep = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    unreachable = nodelifecycle_plan.desired_taints(node(taints=[keep]), False, NOW)
    assert keep in unreachable
    assert {(t["key"], t["effect"]) for t in unreachable if t is not keep} == {
        (nodelifecycle_plan.UNREACHABLE, "NoSchedule"),
        (nodelifecycle_plan.UNREACHABLE, "NoExecute"),
    }
    again = nodelifecycle_plan.desired_taints(
        node(taints=unreachable), False, NOW + timedelta(seconds=30)
    )
    assert nodelifecycle_plan.taints_equal(again, unreachable)
    assert [
        t.get("timeAdded") for t in again if t["effect"] == "NoExecute" and t["key"] != "dedicated"
    ] == ["2024-05-01T12:00:00Z"], "timeAdded is kept"
    assert nodelifecycle_plan.desired_taints(node(taints=unreachable), True, NOW) == [keep]
    not_ready = nodelifecycle_plan.desired_taints(node("False"), True, NOW)
    assert {t["key"] for t in not_ready} == {nodelifecycle_plan.NOT_READY}


def test_eviction_time_by_toleration() -> None:
    taint = {
        "key": nodelifecycle_plan.UNREACHABLE,
        "effect": "NoExecute",
        "timeAdded": "2024-05-01T12:00:00Z",
    }
    plain: dict = {"spec": {}}
    assert nodelifecycle_plan.eviction_time(plain, [taint], 300, NOW) == NOW + timedelta(
        seconds=300
    )
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert nodelifecycle_plan.eviction_time(forever, [taint], 300, NOW) is None
    limited = {
        "spec": {
            "tolerations": [
                {
                    "key": nodelifecycle_plan.UNREACHABLE,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 5,
                }
            ]
        }
    }
    assert nodelifecycle_plan.eviction_time(limited, [taint], 300, NOW) == NOW + timedelta(
        seconds=5
    )
    other = {"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}
    assert nodelifecycle_plan.eviction_time(other, [taint], 1, NOW) == NOW + timedelta(seconds=1)
    no_schedule = {**taint, "effect": "NoSchedule"}
    assert nodelifecycle_plan.eviction_time(plain, [no_schedule], 1, NOW) is None


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"operator": "Exists"}, {"key": "k", "effect": "NoExecute"}, True),
        ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
        (
            {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "k", "effect": "NoExecute"},
            False,
        ),
    ],
)
def test_tolerates(toleration: dict, taint: dict, expected: bool) -> None:
    assert nodelifecycle_plan.tolerates(toleration, taint) is expected


def test_controllers_flag() -> None:
    default = tuple(c for c in config.ALL_CONTROLLERS if c not in config.DISABLED_BY_DEFAULT)
    assert config.parse_controllers("*") == default
    assert "bootstrapsigner" not in default and "csrsigning" in default
    assert config.parse_controllers("*,-nodelifecycle") == tuple(
        c for c in default if c != "nodelifecycle"
    )
    assert config.parse_controllers("-namespace") == tuple(c for c in default if c != "namespace")
    assert config.parse_controllers("*,bootstrapsigner,tokencleaner") == config.ALL_CONTROLLERS
    assert config.parse_controllers("deployment,replicaset") == ("replicaset", "deployment")
    with pytest.raises(argparse.ArgumentTypeError):
        config.parse_controllers("bogus")


def test_parse_args_durations() -> None:
    s = config.parse_args(
        [
            "--node-monitor-grace-period=40s",
            "--pod-eviction-timeout=5m",
            "--leader-elect=false",
            "--v=4",
        ]
    )
    assert s.node_monitor_grace_period == 40 and s.pod_eviction_timeout == 300
    assert not s.leader_election.leader_elect and s.log_level == "debug"
    assert config.parse_args(["--node-monitor-period=500ms"]).node_monitor_period == 0.5
