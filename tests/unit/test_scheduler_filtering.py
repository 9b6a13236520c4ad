"""Filter plugins, one table each, and the Unschedulable message."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from minik8s.scheduler import filtering
from minik8s.scheduler.nodeinfo import NodeInfo, node_info, pod_info
from tests.support.scheduling import node, pod, required_affinity


def on(node_obj: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    """A parsed node with `pods` assigned to it."""
    info = node_info(node_obj)
    for p in pods:
        info.add_pod(pod_info(p))
    return info


NO_SCHEDULE_GPU = [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("tolerations", "unschedulable", "fits"),
    [
        (None, False, True),
        (None, True, False),
        ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}], True, True),
        ([{"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute",
           "operator": "Exists"}], True, False),
    ],
)  # fmt: skip
def test_node_unschedulable(tolerations: Any, unschedulable: bool, fits: bool) -> None:
    p = pod_info(pod("p", tolerations=tolerations))
    n = node_info(node("n", unschedulable=unschedulable))
    assert (filtering.node_unschedulable(p, n) == filtering.FITS) is fits


@pytest.mark.parametrize(
    ("ready", "tolerations", "fits"),
    [
        (True, None, True),
        (False, None, False),
        (False, [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}], True),
    ],
)
def test_node_ready(ready: bool, tolerations: Any, fits: bool) -> None:
    p = pod_info(pod("p", tolerations=tolerations))
    n = node_info(node("n", ready=ready))
    assert (filtering.node_ready(p, n) == filtering.FITS) is fits


def test_node_without_ready_condition_is_not_ready() -> None:
    obj = node("n")
    obj["status"]["conditions"] = []
    assert filtering.node_ready(pod_info(pod("p")), node_info(obj)) == (filtering.NOT_READY,)


def test_node_name() -> None:
    p = pod_info(pod("p"))
    p.node_name = "a"
    assert filtering.node_name(p, node_info(node("a"))) == filtering.FITS
    assert filtering.node_name(p, node_info(node("b"))) == (filtering.NODE_NAME,)
    assert filtering.node_name(pod_info(pod("q")), node_info(node("b"))) == filtering.FITS


LABELS = {"disk": "ssd", "zone": "a", "cores": "8"}


@pytest.mark.parametrize(
    ("expression", "fits"),
    [
        ({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}, True),
        ({"key": "disk", "operator": "In", "values": ["hdd"]}, False),
        ({"key": "missing", "operator": "In", "values": ["x"]}, False),
        ({"key": "disk", "operator": "NotIn", "values": ["hdd"]}, True),
        ({"key": "disk", "operator": "NotIn", "values": ["ssd"]}, False),
        ({"key": "missing", "operator": "NotIn", "values": ["x"]}, True),
        ({"key": "zone", "operator": "Exists"}, True),
        ({"key": "missing", "operator": "Exists"}, False),
        ({"key": "missing", "operator": "DoesNotExist"}, True),
        ({"key": "zone", "operator": "DoesNotExist"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["4"]}, True),
        ({"key": "cores", "operator": "Gt", "values": ["8"]}, False),
        ({"key": "cores", "operator": "Lt", "values": ["16"]}, True),
        ({"key": "cores", "operator": "Lt", "values": ["8"]}, False),
        ({"key": "zone", "operator": "Gt", "values": ["1"]}, False),  # not a number
        ({"key": "missing", "operator": "Lt", "values": ["1"]}, False),
        ({"key": "zone", "operator": "Bogus", "values": ["a"]}, False),
    ],
)
def test_required_node_affinity(expression: dict[str, Any], fits: bool) -> None:
    p = pod_info(pod("p", affinity=required_affinity(expression)))
    n = node_info(node("n", labels=LABELS))
    assert (filtering.node_affinity(p, n) == filtering.FITS) is fits


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [
                        {"key": "disk", "operator": "In", "values": ["ssd"]},
                        {"key": "zone", "operator": "In", "values": ["b"]},
                    ]},
                    {"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": ["n"]},
                    ]},
                ]
            }
        }
    }  # fmt: skip
    p = pod_info(pod("p", affinity=affinity))
    assert filtering.node_affinity(p, node_info(node("n", labels=LABELS))) == filtering.FITS
    assert filtering.node_affinity(p, node_info(node("m", labels=LABELS))) == (
        filtering.NODE_AFFINITY,
    )


def test_empty_affinity_term_matches_nothing() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}}  # fmt: skip
    p = pod_info(pod("p", affinity=affinity))
    assert filtering.node_affinity(p, node_info(node("n"))) == (filtering.NODE_AFFINITY,)


@pytest.mark.parametrize(
    ("selector", "fits"),
    [({"disk": "ssd"}, True), ({"disk": "ssd", "zone": "a"}, True), ({"disk": "hdd"}, False),
     ({"gpu": "yes"}, False)],
)  # fmt: skip
def test_node_selector(selector: dict[str, str], fits: bool) -> None:
    p = pod_info(pod("p", node_selector=selector))
    n = node_info(node("n", labels=LABELS))
    assert (filtering.node_affinity(p, n) == filtering.FITS) is fits


@pytest.mark.parametrize(
    ("taints", "tolerations", "fits"),
    [
        (NO_SCHEDULE_GPU, None, False),
        (NO_SCHEDULE_GPU, [{"key": "gpu", "operator": "Equal", "value": "true"}], True),
        (NO_SCHEDULE_GPU, [{"key": "gpu", "value": "false"}], False),
        (NO_SCHEDULE_GPU, [{"key": "gpu", "operator": "Exists"}], True),
        (NO_SCHEDULE_GPU, [{"operator": "Exists"}], True),  # tolerates everything
        (NO_SCHEDULE_GPU, [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}], False),
        (NO_SCHEDULE_GPU, [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}], True),
        ([{"key": "k", "value": "v", "effect": "NoExecute"}], None, False),
        ([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}], None, True),
    ],
)
def test_taint_toleration(taints: Any, tolerations: Any, fits: bool) -> None:
    p = pod_info(pod("p", tolerations=tolerations))
    n = node_info(node("n", taints=taints))
    reasons = filtering.taint_toleration(p, n)
    assert (reasons == filtering.FITS) is fits
    if not fits:
        key, value = taints[0]["key"], taints[0]["value"]
        assert reasons == (f"node(s) had untolerated taint {{{key}: {value}}}",)


@pytest.mark.parametrize(
    ("used", "wanted", "fits"),
    [
        (None, 8080, True),
        (8080, None, True),
        (8080, 8080, False),
        (8080, 8081, True),
    ],
)
def test_node_ports(used: int | None, wanted: int | None, fits: bool) -> None:
    n = on(node("n"), pod("other", host_port=used))
    p = pod_info(pod("p", host_port=wanted))
    assert (filtering.node_ports(p, n) == filtering.FITS) is fits


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        (("0.0.0.0", "TCP", 80), ("10.0.0.1", "TCP", 80), True),
        (("10.0.0.1", "TCP", 80), ("10.0.0.1", "TCP", 80), True),
        (("10.0.0.1", "TCP", 80), ("10.0.0.2", "TCP", 80), False),
        (("0.0.0.0", "TCP", 80), ("0.0.0.0", "UDP", 80), False),
    ],
)
def test_ports_conflict(a: Any, b: Any, conflict: bool) -> None:
    assert filtering.ports_conflict(a, b) is conflict


@pytest.mark.parametrize(
    ("allocatable", "existing", "wanted", "reasons"),
    [
        (("1", "1Gi", "10"), [], ("500m", "512Mi"), ()),
        (("1", "1Gi", "10"), [("600m", "100Mi")], ("500m", None), ("Insufficient cpu",)),
        (("1", "1Gi", "10"), [("100m", "1000Mi")], (None, "100Mi"), ("Insufficient memory",)),
        (("1", "1Gi", "10"), [("1", "1Gi")], ("1m", "1Mi"),
         ("Insufficient cpu", "Insufficient memory")),
        (("1", "1Gi", "1"), [(None, None)], (None, None), ("Too many pods",)),
        (("1", "1Gi", "10"), [("1", "1Gi")], (None, None), ()),  # zero requests always fit
        (("1", "1Gi", "10"), [], ("1", "1Gi"), ()),  # exactly full fits
    ],
)  # fmt: skip
def test_resources_fit(allocatable: Any, existing: Any, wanted: Any, reasons: Any) -> None:
    cpu, memory, pods = allocatable
    n = on(
        node("n", cpu, memory, pods),
        *(pod(f"e{i}", c, m) for i, (c, m) in enumerate(existing)),
    )
    p = pod_info(pod("p", *wanted))
    assert filtering.resources_fit(p, n) == reasons
    assert filtering.check_node(p, n) == reasons


def test_requests_sum_containers_and_take_the_largest_init_container() -> None:
    obj = pod("p", "100m", "64Mi")
    obj["spec"]["containers"].append(
        {"name": "b", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}}
    )
    obj["spec"]["initContainers"] = [
        {"name": "i", "resources": {"requests": {"cpu": "500m", "memory": "1Mi"}}}
    ]
    obj["spec"]["overhead"] = {"cpu": "10m"}
    info = pod_info(obj)
    assert (info.cpu, info.memory) == (510, 128 * 1024 * 1024)


def test_check_node_stops_at_the_first_failing_filter_in_order() -> None:
    n = node_info(
        node("n", "1", "1Gi", unschedulable=True, taints=NO_SCHEDULE_GPU, labels={"a": "b"})
    )
    p = pod_info(pod("p", "2", node_selector={"a": "c"}))
    assert filtering.check_node(p, n) == (filtering.UNSCHEDULABLE,)
    n.unschedulable = False
    n.clean = False
    assert filtering.check_node(p, n) == ("node(s) had untolerated taint {gpu: true}",)
    n.hard_taints = ()
    assert filtering.check_node(p, n) == (filtering.NODE_AFFINITY,)
    n.labels = {"a": "c"}
    assert filtering.check_node(p, n) == (filtering.INSUFFICIENT_CPU,)


def test_unschedulable_message_reads_like_kubernetes() -> None:
    reasons = Counter({"Insufficient cpu": 2, "node(s) had untolerated taint {gpu: true}": 1})
    assert filtering.unschedulable_message(3, reasons) == (
        "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {gpu: true}."
    )
    assert filtering.unschedulable_message(0, Counter()) == "no nodes available to schedule pods"
    tied = Counter({"b": 1, "a": 1})
    assert filtering.unschedulable_message(2, tied) == "0/2 nodes are available: 1 a, 1 b."
