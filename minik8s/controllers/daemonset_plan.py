"""The DaemonSet controller's decisions, pure (Kubernetes' `controller/daemon`): which nodes
should run a daemon pod, the pod for a node, what to create and delete to get one pod per
eligible node, the RollingUpdate steps (maxUnavailable, maxSurge) and the status.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil
from minik8s.api.meta import Object
from minik8s.api.resources import DAEMONSETS
from minik8s.controllers import history_plan, nodeaffinity, rollout
from minik8s.controllers.nodelifecycle_plan import tolerates

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE),
    ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
"""What Kubernetes adds to every daemon pod (AddOrUpdateDaemonPodTolerations)."""
NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)
"""Added too for hostNetwork pods."""


# --- which nodes -------------------------------------------------------------------------------


def daemon_tolerations(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The template's tolerations plus the daemon ones (an existing one for the same key and
    effect is replaced, as AddOrUpdateTolerationInPodSpec does)."""
    wanted = list(DAEMON_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        wanted.append(NETWORK_UNAVAILABLE)
    result = [dict(t) for t in pod_spec.get("tolerations") or []]
    for key, effect in wanted:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        for i, existing in enumerate(result):
            if existing.get("key") == key and existing.get("effect") == effect:
                result[i] = toleration
                break
        else:
            result.append(toleration)
    return result


def should_run(ds: Mapping[str, Any], node: Mapping[str, Any]) -> tuple[bool, bool]:
    """(should a daemon pod be placed there, may an existing one keep running there):
    NoSchedule taints stop new pods only, untolerated NoExecute ones both."""
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    wanted_node = pod_spec.get("nodeName")
    if wanted_node and wanted_node != meta.name_of(node):
        return False, False
    if not nodeaffinity.pod_matches_node(pod_spec, node):
        return False, False
    tolerations = daemon_tolerations(pod_spec)
    fits, keeps = True, True
    for taint in (node.get("spec") or {}).get("taints") or []:
        effect = taint.get("effect")
        if effect not in (NO_SCHEDULE, NO_EXECUTE):
            continue
        if any(tolerates(t, taint) for t in tolerations):
            continue
        fits = False
        if effect == NO_EXECUTE:
            keeps = False
    return fits, keeps


# --- the pod for a node ------------------------------------------------------------------------


def new_pod(ds: Object, node_name: str, hash_: str) -> Object:
    """A daemon pod pinned to `node_name` by node affinity (the scheduler binds it there)."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template_meta = template.get("metadata") or {}
    spec = dict(template.get("spec") or {})
    spec["tolerations"] = daemon_tolerations(spec)
    affinity = dict(spec.get("affinity") or {})
    node_affinity = dict(affinity.get("nodeAffinity") or {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
        ]
    }
    affinity["nodeAffinity"] = node_affinity
    spec["affinity"] = affinity
    labels = {**(template_meta.get("labels") or {}), history_plan.DAEMONSET_HASH_LABEL: hash_}
    metadata: dict[str, Any] = {
        "generateName": f"{meta.name_of(ds)}-",
        "namespace": meta.namespace_of(ds),
        "labels": labels,
        "ownerReferences": [meta.owner_reference(DAEMONSETS, ds)],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def target_node(pod: Mapping[str, Any]) -> str:
    """The node a daemon pod is for: spec.nodeName, else its metadata.name affinity term."""
    name = podutil.node_name_of(pod)
    if name:
        return name
    affinity = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        for req in term.get("matchFields") or []:
            values = req.get("values") or []
            if req.get("key") == "metadata.name" and req.get("operator") == "In" and values:
                return str(values[0])
    return ""


def is_updated(pod: Mapping[str, Any], hash_: str) -> bool:
    return bool(hash_) and meta.labels_of(pod).get(history_plan.DAEMONSET_HASH_LABEL) == hash_


def _oldest_first(pods: Iterable[Object]) -> list[Object]:
    return sorted(pods, key=lambda p: (meta.creation_time(p), meta.name_of(p)))


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class Plan:
    create_on: list[str] = field(default_factory=list)
    """Nodes to create a daemon pod on."""
    delete: list[Object] = field(default_factory=list)
    """Pods to delete gracefully."""
    force_delete: list[Object] = field(default_factory=list)
    """Pods of nodes that no longer exist: deleted with grace 0 (no kubelet will finish them)."""

    @property
    def empty(self) -> bool:
        return not (self.create_on or self.delete or self.force_delete)


def pods_by_node(pods: Iterable[Object]) -> dict[str, list[Object]]:
    by_node: dict[str, list[Object]] = {}
    for pod in pods:
        by_node.setdefault(target_node(pod), []).append(pod)
    return by_node


def _live(pods: Iterable[Object]) -> list[Object]:
    return [p for p in pods if not meta.is_deleting(p)]


def surge_count(ds: Mapping[str, Any], desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for `desired` nodes, both rounded up; never both 0."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = rollout.scaled_value(rolling.get("maxSurge"), desired, round_up=True)
    unavailable = rollout.scaled_value(rolling.get("maxUnavailable", 1), desired, round_up=True)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def manage(
    ds: Object, nodes: list[Object], by_node: Mapping[str, list[Object]], hash_: str
) -> Plan:
    """One pod per node that should run one (Kubernetes' manage + podsShouldBeOnNode)."""
    plan = Plan()
    surge, _ = surge_count(ds, len(nodes))
    known = {meta.name_of(n) for n in nodes}
    for node in nodes:
        name = meta.name_of(node)
        run, keep = should_run(ds, node)
        present = by_node.get(name, [])
        if run and not present:
            plan.create_on.append(name)
            continue
        pods = _live(present)  # a terminating pod is waited for before its replacement
        if not keep:
            plan.delete += pods
            continue
        plan.delete += [p for p in pods if podutil.is_terminal(p)]
        running = _oldest_first(p for p in pods if not podutil.is_terminal(p))
        if len(running) <= 1:
            continue
        if surge > 0:
            new = [p for p in running if is_updated(p, hash_)]
            old = [p for p in running if not is_updated(p, hash_)]
            plan.delete += new[1:] + old[1:]
        else:
            plan.delete += running[1:]
    for node_name, pods in by_node.items():
        if node_name and node_name not in known:
            plan.force_delete += pods
    return plan


def rolling_update(
    ds: Object,
    nodes: list[Object],
    by_node: Mapping[str, list[Object]],
    hash_: str,
    now: datetime,
) -> Plan:
    """The next RollingUpdate step (Kubernetes' rollingUpdate): without surge, delete old pods
    while no more than maxUnavailable nodes lack an available pod; with surge, create new pods
    beside available old ones (up to maxSurge at a time) and delete the old once the new is
    available."""
    plan = Plan()
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    eligible = {meta.name_of(n): n for n in nodes if should_run(ds, n)[0]}
    surge, max_unavailable = surge_count(ds, len(eligible))

    def available(pod: Object) -> bool:
        return podutil.pod_is_available(pod, min_ready, now)

    if surge == 0:
        unavailable = 0
        replace: list[Object] = []
        candidates: list[Object] = []
        for name in sorted(by_node):
            pods = _live(by_node[name])
            new = [p for p in pods if is_updated(p, hash_)]
            old = [p for p in pods if not is_updated(p, hash_)]
            if len(new) > 1 or len(old) > 1 or (not new and not old) or (new and old):
                unavailable += 1
            elif new:
                if not available(new[0]):
                    unavailable += 1
            elif not available(old[0]):
                replace.append(old[0])
            elif unavailable < max_unavailable:
                candidates.append(old[0])
        room = max(0, max_unavailable - unavailable)
        plan.delete = replace + candidates[:room]
        return plan
    in_progress = 0
    allowed: list[str] = []
    candidate_nodes: list[str] = []
    for name in sorted(by_node):
        pods = _live(by_node[name])
        new = [p for p in pods if is_updated(p, hash_)]
        old = [p for p in pods if not is_updated(p, hash_)]
        if len(new) > 1 or len(old) > 1:
            in_progress += 1
            continue
        if not old:
            continue
        if not new:
            if name not in eligible:
                plan.delete.append(old[0])
            elif not available(old[0]):
                allowed.append(name)
            elif in_progress < surge:
                candidate_nodes.append(name)
            continue
        if not available(new[0]):
            in_progress += 1
        else:
            plan.delete.append(old[0])
    room = max(0, surge - in_progress)
    plan.create_on = allowed + candidate_nodes[:room]
    return plan


def calculate_status(
    ds: Object,
    nodes: list[Object],
    by_node: Mapping[str, list[Object]],
    hash_: str,
    now: datetime,
) -> dict[str, Any]:
    """The status Kubernetes reports (updateDaemonSetStatus)."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    desired = current = misscheduled = ready = available = updated = 0
    for node in nodes:
        pods = [p for p in by_node.get(meta.name_of(node), [])
                if not (podutil.is_terminal(p) and meta.is_deleting(p))]  # fmt: skip
        run, _ = should_run(ds, node)
        if not run:
            misscheduled += 1 if pods else 0
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = sorted(pods, key=_status_rank)[0]
        if podutil.pod_is_ready(pod):
            ready += 1
            if podutil.pod_is_available(pod, min_ready, now):
                available += 1
        if is_updated(pod, hash_):
            updated += 1
    status: dict[str, Any] = dict(ds.get("status") or {})
    status.update(
        currentNumberScheduled=current,
        numberMisscheduled=misscheduled,
        desiredNumberScheduled=desired,
        numberReady=ready,
        observedGeneration=meta.generation_of(ds),
        updatedNumberScheduled=updated,
        numberAvailable=available,
    )
    if desired - available:
        status["numberUnavailable"] = desired - available
    else:
        status.pop("numberUnavailable", None)
    return status


def _status_rank(pod: Object) -> tuple[Any, ...]:
    """Oldest first, running before pending (Kubernetes' podByCreationTimestampAndPhase)."""
    phase_rank = 0 if podutil.pod_phase(pod) == "Running" else 1
    return (meta.creation_time(pod), phase_rank, meta.name_of(pod))


def next_availability_check(ds: Object, pods: Iterable[Object], now: datetime) -> float | None:
    """Seconds until a ready pod becomes available (minReadySeconds), if any is waiting."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = []
    for pod in pods:
        since = podutil.pod_ready_since(pod)
        if since is not None:
            left = min_ready - (now - since).total_seconds()
            if left > 0:
                waits.append(left + 0.1)
    return min(waits) if waits else None
