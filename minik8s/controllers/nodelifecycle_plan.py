"""Node lifecycle decisions, pure: a node's heartbeat, its conditions once it went silent,
the taints its health calls for, and when a pod on a tainted node must be evicted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil, times
from minik8s.api.meta import Object

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
HEALTH_TAINT_KEYS = (UNREACHABLE, NOT_READY)
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
SILENT_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def heartbeat_signature(node: Object, lease: Object | None) -> tuple[str, str]:
    """What changes whenever the kubelet reports in: its Lease's renewTime and its Ready
    condition's lastHeartbeatTime. Compared by value, so clock skew does not matter."""
    renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
    ready = meta.get_condition(node, "Ready") or {}
    return renew, str(ready.get("lastHeartbeatTime") or "")


def ready_status(node: Object) -> str:
    """`True`, `False` or `Unknown` (also when there is no Ready condition)."""
    condition = meta.get_condition(node, "Ready")
    return str(condition.get("status")) if condition else "Unknown"


def silent_conditions(node: Object, now: datetime) -> list[dict[str, Any]] | None:
    """The node's conditions after it stopped reporting (all Unknown), or None if they
    already say so (Kubernetes' tryUpdateNodeHealth)."""
    stamp = times.format_time(now)
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    changed = False
    present = {c.get("type") for c in conditions}
    if "Ready" not in present:
        conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                           "message": "Kubelet never posted node status.",
                           "lastHeartbeatTime": stamp, "lastTransitionTime": stamp})  # fmt: skip
        changed = True
    for condition in conditions:
        if condition.get("type") not in SILENT_CONDITIONS or condition.get("status") == "Unknown":
            continue
        condition.update(status="Unknown", reason="NodeStatusUnknown",
                         message="Kubelet stopped posting node status.",
                         lastTransitionTime=stamp)  # fmt: skip
        changed = True
    return conditions if changed else None


def desired_taints(node: Object, reachable: bool, now: datetime) -> list[dict[str, Any]]:
    """The node's taints with the health ones its state calls for: `unreachable` when it is
    silent, `not-ready` when it reports Ready=False, each as NoSchedule and NoExecute."""
    existing = list((node.get("spec") or {}).get("taints") or [])
    keep = [t for t in existing if t.get("key") not in HEALTH_TAINT_KEYS]
    if not reachable:
        key: str | None = UNREACHABLE
    elif ready_status(node) == "False":
        key = NOT_READY
    else:
        key = None
    if key is None:
        return keep
    stamp = times.format_time(now)
    health = []
    for effect in (NO_SCHEDULE, NO_EXECUTE):
        old = next((t for t in existing if t.get("key") == key and t.get("effect") == effect),
                   None)  # fmt: skip
        taint = {"key": key, "effect": effect}
        if effect == NO_EXECUTE:
            taint["timeAdded"] = (old or {}).get("timeAdded") or stamp
        health.append(taint)
    return keep + health


def taints_equal(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def norm(taints: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted((t.get("key", ""), t.get("value", "") or "", t.get("effect", ""))
                      for t in taints)  # fmt: skip

    return norm(a) == norm(b)


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Kubernetes' Toleration.ToleratesTaint."""
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_time(pod: Object, taints: list[dict[str, Any]], default_timeout: float,
                  now: datetime) -> datetime | None:  # fmt: skip
    """When a pod on a node with these taints is to be evicted; None for never.

    For each NoExecute taint: a toleration with `tolerationSeconds` allows that long, one
    without allows forever; no toleration allows `default_timeout` (the pod eviction timeout).
    The earliest deadline over the taints wins, counted from each taint's `timeAdded`."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    deadlines = []
    for taint in taints:
        if taint.get("effect") != NO_EXECUTE:
            continue
        added = times.parse_time(taint.get("timeAdded")) or now
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            deadlines.append(times.add_seconds(added, default_timeout))
            continue
        limits = [t.get("tolerationSeconds") for t in matching]
        if any(limit is None for limit in limits):
            continue
        deadlines.append(times.add_seconds(added, max(0, min(int(x) for x in limits))))
    return min(deadlines) if deadlines else None


def not_ready_pod_status(pod: Object, now: datetime) -> dict[str, Any] | None:
    """The pod's status with Ready=False (its node went silent); None if already not ready."""
    status = dict(pod.get("status") or {})
    conditions = [dict(c) for c in status.get("conditions") or []]
    changed = False
    for condition in conditions:
        if condition.get("type") == "Ready" and condition.get("status") != "False":
            condition.update(status="False", lastTransitionTime=times.format_time(now),
                             reason="NodeNotReady")  # fmt: skip
            changed = True
    if not changed:
        return None
    status["conditions"] = conditions
    return status


TAINT_EVICTION_REASON = "DeletionByTaintManager"
TAINT_EVICTION_MESSAGE = "Taint manager: deleting due to NoExecute taint"


def disruption_status(pod: Object, stamp: str | None = None) -> dict:
    """The pod's status with the DisruptionTarget condition the taint manager sets before it
    deletes a pod (Kubernetes' addConditionAndDeletePod)."""
    return podutil.with_disruption_target(
        pod.get("status") or {}, TAINT_EVICTION_REASON, TAINT_EVICTION_MESSAGE, stamp
    )
