"""The ReplicaSet controller's decisions, pure: which pods it owns, adopts and releases, how
many to create or delete in which batches, which pods go first, and the status it reports."""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil, selectors, times
from minik8s.api.meta import Object
from minik8s.api.resources import REPLICASETS, ResourceType

SLOW_START_INITIAL_BATCH = 1
"""The first batch of creates; each successful batch doubles the next (Kubernetes' slowStart)."""
BURST_REPLICAS = 500
"""At most this many creates or deletes per sync (Kubernetes' burstReplicas)."""
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass
class Claim:
    """How a controller's selector splits the pods of its namespace."""

    owned: list[Object] = field(default_factory=list)
    """Pods it controls whose labels still match."""
    adopt: list[Object] = field(default_factory=list)
    """Orphans that match: to be given a controller reference to it."""
    release: list[Object] = field(default_factory=list)
    """Pods it controls whose labels no longer match: to lose the reference."""


def index_pod_controller(pod: Object) -> list[str]:
    """Kubernetes' PodControllerUIDIndex: a pod under its controller's uid, an orphan under
    `orphan/<namespace>` — the only pods a controller's claim can own, release or adopt."""
    ref = meta.controller_ref(pod)
    uid = ref.get("uid") if ref is not None else None
    return [str(uid)] if uid else [f"orphan/{meta.namespace_of(pod) or ''}"]


def claim_pods(
    owner: Object, pods: Iterable[Object], selector: selectors.LabelSelector | None = None
) -> Claim:
    """Kubernetes' ControllerRefManager.ClaimPods, for an owner that may adopt (not deleting).

    `selector` defaults to the owner's `spec.selector` as a LabelSelector object."""
    if selector is None:
        selector = selectors.label_selector_from_object((owner.get("spec") or {}).get("selector"))
    uid = meta.uid_of(owner)
    deleting = meta.is_deleting(owner)
    claim = Claim()
    for pod in pods:
        ref = meta.controller_ref(pod)
        matches = selector.matches(meta.labels_of(pod))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                claim.owned.append(pod)
            elif not meta.is_deleting(pod):
                claim.release.append(pod)
            continue
        if matches and not deleting and not meta.is_deleting(pod):
            claim.adopt.append(pod)
    return claim


def slow_start_batches(total: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes 1, 2, 4, … summing to `total` (the last one possibly smaller)."""
    batches: list[int] = []
    size = max(1, initial)
    remaining = total
    while remaining > 0:
        batch = min(size, remaining)
        batches.append(batch)
        remaining -= batch
        size *= 2
    return batches


def replica_diff(rs: Object, active_pods: int) -> int:
    """Pods to create (>0) or delete (<0), capped at `BURST_REPLICAS`."""
    wanted = int((rs.get("spec") or {}).get("replicas", 1))
    diff = wanted - active_pods
    return max(-BURST_REPLICAS, min(BURST_REPLICAS, diff))


def deletion_key(pod: Object, colocated: int) -> tuple[Any, ...]:
    """Sort key: the pods that sort first are deleted first (Kubernetes' ActivePodsWithRanks).

    Unscheduled before scheduled; Pending before Unknown before Running; not ready before
    ready; lower deletion cost first; more siblings on the same node first; ready for less
    time first; more restarts first; newer before older.
    """
    assigned = 1 if (pod.get("spec") or {}).get("nodeName") else 0
    phase = _PHASE_RANK.get(podutil.pod_phase(pod), 0)
    ready = 1 if podutil.pod_is_ready(pod) else 0
    try:
        cost = int((meta.meta(pod).get("annotations") or {}).get(DELETION_COST_ANNOTATION, 0))
    except ValueError:
        cost = 0
    since = podutil.pod_ready_since(pod) if ready else None
    ready_for = -since.timestamp() if since is not None else -math.inf
    created = meta.creation_time(pod).timestamp()
    return (assigned, phase, ready, cost, -colocated, ready_for, -podutil.restart_count(pod),
            -created, meta.name_of(pod))  # fmt: skip


def pods_to_delete(pods: list[Object], count: int) -> list[Object]:
    """The `count` pods to delete first, ranked by `deletion_key`."""
    if count <= 0:
        return []
    per_node = Counter(
        (p.get("spec") or {}).get("nodeName") for p in pods if (p.get("spec") or {}).get("nodeName")
    )
    ranked = sorted(
        pods,
        key=lambda p: deletion_key(p, per_node.get((p.get("spec") or {}).get("nodeName"), 0)),
    )
    return ranked[:count]


def new_pod(rs: Object, rt: ResourceType = REPLICASETS) -> Object:
    """A pod of `rs`'s template, named `<rs>-<random>` by the apiserver, controlled by `rs`."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    template_meta = template.get("metadata") or {}
    metadata: dict[str, Any] = {
        "generateName": f"{meta.name_of(rs)}-",
        "namespace": meta.namespace_of(rs),
        "labels": dict(template_meta.get("labels") or {}),
        "ownerReferences": [meta.owner_reference(rt, rs)],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    if template_meta.get("finalizers"):
        metadata["finalizers"] = list(template_meta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": template.get("spec") or {}}  # fmt: skip


def calculate_status(
    rs: Object, active_pods: list[Object], now: datetime, failure: str | None = None
) -> dict[str, Any]:
    """The status `rs` reports for its active pods (Kubernetes' calculateStatus)."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    template_selector = selectors.label_selector_from_set(template_labels)
    min_ready = float(spec.get("minReadySeconds") or 0)
    old = rs.get("status") or {}
    status: dict[str, Any] = {
        "replicas": len(active_pods),
        "fullyLabeledReplicas": sum(
            1 for p in active_pods if template_selector.matches(meta.labels_of(p))
        ),
        "readyReplicas": sum(1 for p in active_pods if podutil.pod_is_ready(p)),
        "availableReplicas": sum(
            1 for p in active_pods if podutil.pod_is_available(p, min_ready, now)
        ),
        "observedGeneration": int(meta.meta(rs).get("generation") or 0),
    }
    conditions = [c for c in old.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    if failure is not None:
        previous = meta.find_condition(old.get("conditions"), "ReplicaFailure")
        conditions.append({
            "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
            "message": failure,
            "lastTransitionTime": (previous or {}).get("lastTransitionTime")
            or times.format_time(now),
        })  # fmt: skip
    if conditions:
        status["conditions"] = conditions
    return status


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    old = old or {}
    keys = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
            "observedGeneration")  # fmt: skip
    if any(int(old.get(k) or 0) != int(new.get(k) or 0) for k in keys):
        return True
    return (old.get("conditions") or []) != (new.get("conditions") or [])


def next_availability_check(rs: Object, active_pods: list[Object], now: datetime) -> float | None:
    """Seconds until a ready pod becomes available under minReadySeconds, if any will."""
    min_ready = float((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = []
    for pod in active_pods:
        since = podutil.pod_ready_since(pod)
        if since is not None:
            left = min_ready - (now - since).total_seconds()
            if left > 0:
                waits.append(left)
    return min(waits) + 0.1 if waits else None
