"""What every component asks of a pod (Kubernetes' `pkg/api/v1/pod` helpers; pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from minik8s.api import meta, times

TERMINAL_PHASES = ("Succeeded", "Failed")
DISRUPTION_TARGET = "DisruptionTarget"
"""The condition a pod gets before it is deleted by the eviction API, podgc or the taint
manager (so the Job controller's pod failure policy can tell why it went)."""


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return pod_phase(pod) in TERMINAL_PHASES


def pod_is_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards a controller's replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not meta.is_deleting(pod)


def pod_condition(pod: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    return meta.get_condition(pod, type_)


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    return meta.condition_is_true(pod, "Ready")


def pod_ready_since(pod: Mapping[str, Any]) -> datetime | None:
    condition = pod_condition(pod, "Ready")
    if condition is None or condition.get("status") != "True":
        return None
    return times.parse_time(condition.get("lastTransitionTime"))


def pod_is_available(pod: Mapping[str, Any], min_ready_seconds: float, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (Kubernetes' IsPodAvailable)."""
    if not pod_is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def restart_count(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def node_name_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def all_containers(pod: Mapping[str, Any], ephemeral: bool = False) -> list[dict[str, Any]]:
    """The pod's init containers, then its app containers, then (with `ephemeral`) its
    ephemeral containers (Kubernetes' VisitContainers order; names are unique across all)."""
    spec = pod.get("spec") or {}
    found = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if ephemeral:
        found.extend(spec.get("ephemeralContainers") or [])
    return [c for c in found if isinstance(c, dict)]


def container_named(
    pod: Mapping[str, Any], name: str, ephemeral: bool = False
) -> dict[str, Any] | None:
    """The pod's init or app container called `name` (or ephemeral one, with `ephemeral`)."""
    return next((c for c in all_containers(pod, ephemeral) if c.get("name") == name), None)


def with_disruption_target(
    status: Mapping[str, Any], reason: str, message: str, now: str | None = None
) -> dict[str, Any]:
    """A copy of the pod's `status` with the DisruptionTarget condition set True."""
    updated = dict(status)
    updated["conditions"] = meta.set_condition(
        list(updated.get("conditions") or []), DISRUPTION_TARGET, "True", reason, message, now=now
    )
    return updated
