"""Filter plugins: may this pod run on this node? Pure functions of `PodInfo` and `NodeInfo`.

Each filter returns `FITS` (an empty tuple) or the reasons the node is rejected, worded like
Kubernetes' so the Unschedulable message reads the same (`Insufficient cpu`, `node(s) had
untolerated taint {key: value}`). `check_node` runs them in Kubernetes' order and stops at the
first filter that rejects, skipping those that cannot reject (a node-side filter on a clean
node, a pod-side filter the pod does not use), which keeps the per-node cost small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from minik8s.scheduler.nodeinfo import (
    NO_SCHEDULE,
    TAINT_NOT_READY,
    TAINT_UNSCHEDULABLE,
    NodeInfo,
    PodInfo,
    Requirement,
    SelectorTerm,
    Taint,
    Toleration,
)

Reasons = tuple[str, ...]
Filter = Callable[[PodInfo, NodeInfo], Reasons]

FITS: Reasons = ()
UNSCHEDULABLE = "node(s) were unschedulable"
NOT_READY = "node(s) were not ready"
NODE_NAME = "node(s) didn't match the requested node name"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"


def tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodeUnschedulable: `spec.unschedulable` nodes, unless the pod tolerates that taint."""
    if node.unschedulable and not tolerated(
        pod.tolerations, Taint(TAINT_UNSCHEDULABLE, "", NO_SCHEDULE)
    ):
        return (UNSCHEDULABLE,)
    return FITS


def node_ready(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodeReady: the node's Ready condition must be True, unless the pod tolerates not-ready."""
    if not node.ready and not tolerated(pod.tolerations, Taint(TAINT_NOT_READY, "", NO_SCHEDULE)):
        return (NOT_READY,)
    return FITS


def node_name(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodeName: a pod naming a node fits only there."""
    if pod.node_name and pod.node_name != node.name:
        return (NODE_NAME,)
    return FITS


def requirement_matches(req: Requirement, labels: dict[str, str]) -> bool:
    """One NodeSelectorRequirement against a node's labels (In/NotIn/Exists/DoesNotExist/Gt/Lt)."""
    op = req.operator
    present = req.key in labels
    if op == "In":
        return present and labels[req.key] in req.values
    if op == "NotIn":
        return not present or labels[req.key] not in req.values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(req.values) != 1:
            return False
        try:
            have, bound = int(labels[req.key]), int(req.values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: SelectorTerm, node: NodeInfo) -> bool:
    """All requirements of the term hold; `matchFields` knows `metadata.name` only."""
    if not term.expressions and not term.fields:
        return False
    if not all(requirement_matches(r, node.labels) for r in term.expressions):
        return False
    return all(
        r.key == "metadata.name" and requirement_matches(r, {r.key: node.name}) for r in term.fields
    )


def node_affinity(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodeAffinity: `nodeSelector` labels equal, and one required affinity term matches."""
    labels = node.labels
    for key, value in pod.node_selector:
        if labels.get(key) != value:
            return (NODE_AFFINITY,)
    if pod.required_terms is not None and not any(
        term_matches(t, node) for t in pod.required_terms
    ):
        return (NODE_AFFINITY,)
    return FITS


def untolerated_taint(pod: PodInfo, node: NodeInfo) -> Taint | None:
    for taint in node.hard_taints:
        if not tolerated(pod.tolerations, taint):
            return taint
    return None


def taint_toleration(pod: PodInfo, node: NodeInfo) -> Reasons:
    """TaintToleration: every NoSchedule/NoExecute taint must be tolerated."""
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return (f"node(s) had untolerated taint {taint}",)
    return FITS


def ports_conflict(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    """Same protocol and port, on the same address or either on every address (0.0.0.0)."""
    return (
        a[1] == b[1] and a[2] == b[2] and (a[0] == b[0] or a[0] == "0.0.0.0" or b[0] == "0.0.0.0")
    )


def node_ports(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodePorts: the pod's hostPorts must be free on the node."""
    for wanted in pod.host_ports:
        for used in node.used_ports:
            if ports_conflict(wanted, used):
                return (NODE_PORTS,)
    return FITS


def volume_binding(pod: PodInfo, node: NodeInfo) -> Reasons:
    """VolumeBinding: every volume of the pod is reachable from the node (a bound volume's
    node affinity, or an available volume for a WaitForFirstConsumer claim)."""
    for constraint in pod.volume_constraints:
        if not any(term_matches(t, node) for t in constraint.terms):
            return (constraint.reason,)
    return FITS


def resources_fit(pod: PodInfo, node: NodeInfo) -> Reasons:
    """NodeResourcesFit: requests of the node's pods (assumed ones included) plus this pod's
    fit its allocatable cpu, memory and pod count. Zero requests are not checked."""
    reasons: list[str] = []
    if node.pod_count + 1 > node.allocatable_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu and node.requested_cpu + pod.cpu > node.allocatable_cpu:
        reasons.append(INSUFFICIENT_CPU)
    if pod.memory and node.requested_memory + pod.memory > node.allocatable_memory:
        reasons.append(INSUFFICIENT_MEMORY)
    return tuple(reasons) if reasons else FITS


FILTERS: tuple[tuple[str, Filter], ...] = (
    ("NodeUnschedulable", node_unschedulable),
    ("NodeReady", node_ready),
    ("NodeName", node_name),
    ("TaintToleration", taint_toleration),
    ("NodeAffinity", node_affinity),
    ("NodePorts", node_ports),
    ("NodeResourcesFit", resources_fit),
    ("VolumeBinding", volume_binding),
)
"""Every filter, in the order `check_node` runs them."""


def check_node(pod: PodInfo, node: NodeInfo) -> Reasons:
    """Run the filters in order; the first rejection's reasons, or FITS."""
    if not node.clean:
        reasons = node_unschedulable(pod, node) or node_ready(pod, node)
        if reasons:
            return reasons
    if pod.node_name and pod.node_name != node.name:
        return (NODE_NAME,)
    if node.hard_taints:
        reasons = taint_toleration(pod, node)
        if reasons:
            return reasons
    if pod.node_selector or pod.required_terms is not None:
        reasons = node_affinity(pod, node)
        if reasons:
            return reasons
    if pod.host_ports and node.used_ports:
        reasons = node_ports(pod, node)
        if reasons:
            return reasons
    # NodeResourcesFit, inlined: it runs for every node and pod.
    if not (
        node.pod_count < node.allocatable_pods
        and node.requested_cpu + pod.cpu <= node.allocatable_cpu
        and node.requested_memory + pod.memory <= node.allocatable_memory
    ):
        return resources_fit(pod, node)
    if pod.volume_constraints:
        return volume_binding(pod, node)
    return FITS


def is_plain(pod: PodInfo) -> bool:
    """Whether only NodeResourcesFit can reject this pod on a clean node (the common case)."""
    return not (
        pod.node_name
        or pod.node_selector
        or pod.required_terms is not None
        or pod.host_ports
        or pod.volume_constraints
    )


def unschedulable_message(total_nodes: int, reasons: Counter[str]) -> str:
    """Kubernetes' FitError text: `0/3 nodes are available: 2 Insufficient cpu, 1 node(s) …`.

    Reasons are listed by how many nodes gave them, most first, then alphabetically.
    """
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    detail = ", ".join(f"{count} {reason}" for reason, count in parts)
    return f"0/{total_nodes} nodes are available: {detail}."
