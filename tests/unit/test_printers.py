"""Table printers (minik8s.printers): golden cells for the kinds kubectl shows, and ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minik8s.api import resources, times
from minik8s.apiserver import wire
from minik8s.printers import columns, tables

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return times.format_time(NOW - timedelta(**delta))


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=65), **extra}


def cells(rt: resources.ResourceType, obj: dict[str, Any]) -> list[Any]:
    row = tables.to_table(rt, [obj], now=NOW)["rows"][0]
    cell_values: list[Any] = row["cells"]
    return cell_values


def pod(name: str, phase: str, *statuses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, **extra),
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx"}]},
        "status": {
            "phase": phase,
            "podIPs": [{"ip": "10.0.0.5"}],
            "containerStatuses": list(statuses),
        },
    }


RUNNING_POD = pod(
    "web",
    "Running",
    {
        "name": "app",
        "ready": True,
        "restartCount": 2,
        "state": {"running": {"startedAt": ago(minutes=5)}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}},
    },
)


def test_running_pod_cells() -> None:
    assert cells(resources.PODS, RUNNING_POD) == [
        "web", "1/1", "Running", "2 (5m ago)", "65m", "10.0.0.5", "node-1", "<none>", "<none>",
    ]  # fmt: skip


def test_crash_loop_back_off_pod_cells() -> None:
    crashing = pod(
        "crash",
        "Running",
        {
            "name": "app",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=30)}},
        },
    )
    assert cells(resources.PODS, crashing)[:5] == [
        "crash", "0/1", "CrashLoopBackOff", "4 (30s ago)", "65m",
    ]  # fmt: skip


def test_terminating_pod_cells() -> None:
    terminating = dict(RUNNING_POD, metadata=meta("web", deletionTimestamp=ago(seconds=3)))
    assert cells(resources.PODS, terminating)[:3] == ["web", "1/1", "Terminating"]


@pytest.mark.parametrize(
    ("phase", "state", "expected"),
    [
        ("Pending", {"waiting": {"reason": "ContainerCreating"}}, "ContainerCreating"),
        ("Pending", {"waiting": {"reason": "ErrImagePull"}}, "ErrImagePull"),
        ("Succeeded", {"terminated": {"exitCode": 0, "reason": "Completed"}}, "Completed"),
        ("Failed", {"terminated": {"exitCode": 137}}, "ExitCode:137"),
        ("Failed", {"terminated": {"exitCode": 0, "signal": 9}}, "Signal:9"),
        ("Pending", {}, "Pending"),
    ],
)
def test_pod_status_from_container_state(phase: str, state: dict[str, Any], expected: str) -> None:
    status = {"name": "app", "ready": False, "restartCount": 0, "state": state}
    assert cells(resources.PODS, pod("p", phase, status))[2:4] == [expected, "0"]


def test_unscheduled_pod_wide_cells() -> None:
    pending = pod("p", "Pending")
    pending["spec"].pop("nodeName")
    pending["status"] = {"phase": "Pending"}
    assert cells(resources.PODS, pending)[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_pod_waiting_on_init_container() -> None:
    waiting = pod("p", "Pending")
    waiting["spec"]["initContainers"] = [{"name": "setup", "image": "busybox"}]
    waiting["status"]["initContainerStatuses"] = [
        {"name": "setup", "restartCount": 0, "state": {"running": {}}}
    ]
    assert cells(resources.PODS, waiting)[2] == "Init:0/1"


def test_finished_pods_carry_a_completed_row_condition() -> None:
    done = pod("p", "Succeeded", {"name": "app", "state": {"terminated": {"reason": "Completed"}}})
    row = tables.to_table(resources.PODS, [done], now=NOW)["rows"][0]
    assert row["conditions"][0]["type"] == "Completed"
    assert "conditions" not in tables.to_table(resources.PODS, [RUNNING_POD], now=NOW)["rows"][0]


def test_not_ready_cordoned_node_cells() -> None:
    node = {
        "kind": "Node",
        "metadata": {
            "name": "node-1",
            "creationTimestamp": ago(days=2, hours=3),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0-minik8s", "osImage": "Debian GNU/Linux 12"},
        },
    }
    assert cells(resources.NODES, node) == [
        "node-1", "NotReady,SchedulingDisabled", "control-plane,edge", "2d3h", "v1.32.0-minik8s",
        "172.18.0.2", "<none>", "Debian GNU/Linux 12", "<unknown>", "<unknown>",
    ]  # fmt: skip


def test_node_without_conditions_is_unknown() -> None:
    node = {"metadata": {"name": "n"}, "status": {}}
    assert cells(resources.NODES, node)[1:5] == ["Unknown", "<none>", "<unknown>", ""]


def test_node_port_service_cells() -> None:
    service = {
        "metadata": meta("web"),
        "spec": {
            "type": "NodePort",
            "clusterIPs": ["10.96.0.10"],
            "selector": {"tier": "front", "app": "web"},
            "ports": [
                {"port": 80, "protocol": "TCP", "nodePort": 30080},
                {"port": 53, "protocol": "UDP"},
            ],
        },
    }
    assert cells(resources.SERVICES, service) == [
        "web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "65m",
        "app=web,tier=front",
    ]  # fmt: skip


def test_load_balancer_and_headless_services() -> None:
    pending = {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.2"}}
    assert cells(resources.SERVICES, pending)[2:5] == ["10.96.0.2", "<pending>", "<none>"]
    headless = {"metadata": meta("db"), "spec": {"type": "ClusterIP", "clusterIPs": ["None"]}}
    assert cells(resources.SERVICES, headless)[2:4] == ["None", "<none>"]


def test_deployment_cells() -> None:
    deployment = {
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.25"},
                        {"name": "log", "image": "busybox"},
                    ]
                }
            },
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells(resources.DEPLOYMENTS, deployment) == [
        "web", "2/3", 3, 2, "65m", "nginx,log", "nginx:1.25,busybox", "app=web",
    ]  # fmt: skip


def test_replicaset_cells_format_match_expressions() -> None:
    replicaset = {
        "metadata": meta("web-abc"),
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
        },
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells(resources.REPLICASETS, replicaset) == [
        "web-abc", 2, 2, 1, "65m", "nginx", "nginx", "app=web,!legacy,tier in (a,b)",
    ]  # fmt: skip


def test_endpoints_cells() -> None:
    endpoints = {
        "metadata": meta("web"),
        "subsets": [
            {
                "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)],
                "ports": [{"port": 80}],
            }
        ],
    }
    assert cells(resources.ENDPOINTS, endpoints)[1] == (
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
    )
    assert cells(resources.ENDPOINTS, {"metadata": meta("none")})[1] == "<none>"
    v6 = {
        "metadata": meta("v6"),
        "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}],
    }
    assert cells(resources.ENDPOINTS, v6)[1] == "[fd00::1]:80"


def test_event_cells() -> None:
    event = {
        "metadata": meta("web.17a"),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled",
        "message": "Successfully pulled image\n",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(minutes=3),
        "lastTimestamp": ago(seconds=20),
        "count": 2,
    }
    assert cells(resources.EVENTS, event) == [
        "20s", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, node-1",
        "Successfully pulled image", "3m", 2, "web.17a",
    ]  # fmt: skip
    single = {
        "metadata": meta("e"),
        "involvedObject": {"kind": "Node"},
        "eventTime": ago(seconds=5),
    }
    assert cells(resources.EVENTS, single)[0:4] == ["5s", "", "", "node"]
    assert cells(resources.EVENTS, single)[8] == 1


def test_namespace_configmap_and_lease_cells() -> None:
    namespace = {"metadata": meta("dev"), "status": {"phase": "Active"}}
    assert cells(resources.NAMESPACES, namespace) == ["dev", "Active", "65m"]
    configmap = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells(resources.CONFIGMAPS, configmap) == ["cfg", 3, "65m"]
    lease = {"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}}
    assert cells(resources.LEASES, lease) == ["node-1", "node-1", "65m"]
    assert cells(resources.LEASES, {"metadata": meta("free"), "spec": {}})[1] == ""


def test_column_definitions_mark_wide_columns() -> None:
    table = tables.to_table(resources.PODS, [], now=NOW)
    columns = table["columnDefinitions"]
    assert [c["name"] for c in columns if c["priority"] == 0] == [
        "Name", "Ready", "Status", "Restarts", "Age",
    ]  # fmt: skip
    assert [c["name"] for c in columns if c["priority"] == 1] == [
        "IP", "Node", "Nominated Node", "Readiness Gates",
    ]  # fmt: skip
    assert columns[0]["format"] == "name"
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in columns)
    for rt, printer in tables.PRINTERS.items():
        assert len(printer[0]) == len(cells(rt, {"metadata": meta("x")})), rt.kind


def test_table_shape_and_include_object() -> None:
    table = tables.to_table(resources.PODS, [RUNNING_POD], list_resource_version="42", now=NOW)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": RUNNING_POD["metadata"],
    }
    full = tables.to_table(resources.PODS, [RUNNING_POD], include_object="Object", now=NOW)
    assert full["rows"][0]["object"] is RUNNING_POD
    bare = tables.to_table(resources.PODS, [RUNNING_POD], include_object="None", now=NOW)
    assert "object" not in bare["rows"][0]
    with pytest.raises(ValueError, match="includeObject"):
        tables.to_table(resources.PODS, [], include_object="Everything")


def test_unknown_types_get_name_and_creation_columns() -> None:
    widgets = resources.ResourceType("example.com", "v1", "Widget", "widgets", "widget", True)
    table = tables.to_table(widgets, [{"metadata": meta("w")}], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["w", ago(minutes=65)]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io,"
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            True,
        ),
        ("application/json", False),
        (None, False),
    ],
)
def test_wants_table(accept: str | None, expected: bool) -> None:
    assert wire.wants_table(accept) is expected


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(seconds=-3), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=119, milliseconds=900), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=3, seconds=2), "3m2s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=47, minutes=59), "47h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=733), "2y3d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_human_duration(elapsed: timedelta, expected: str) -> None:
    assert times.human_duration(elapsed) == expected


def test_missing_creation_timestamp_is_unknown_age() -> None:
    assert cells(resources.NAMESPACES, {"metadata": {"name": "x"}})[2] == "<unknown>"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ""),
        ({}, ""),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["2", "1"]}]},
            "x notin (1,2)",
        ),
        ({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, "x"),
        ({"matchExpressions": [{"key": "x", "operator": "Near"}]}, None),
    ],
)
def test_label_selector_string(selector: dict[str, Any] | None, expected: str | None) -> None:
    assert columns.label_selector_string(selector) == expected
