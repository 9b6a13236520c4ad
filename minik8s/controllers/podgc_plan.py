"""The pod garbage collector's decisions, pure (Kubernetes' pkg/controller/podgc): terminated
pods beyond the threshold (oldest first), pods bound to nodes that no longer exist (after a
quarantine, so a node that is only late in the cache is not mistaken for a deleted one), and
unscheduled pods stuck terminating."""

from __future__ import annotations

from collections.abc import Iterable

from minik8s.api import meta, podutil
from minik8s.api.meta import Object

DISRUPTION_TARGET = podutil.DISRUPTION_TARGET
NODE_GONE_REASON = "DeletionByPodGC"
NODE_GONE_MESSAGE = "PodGC: node no longer exists"


def terminated_to_delete(pods: Iterable[Object], threshold: int) -> list[Object]:
    """Terminated pods beyond `threshold`, oldest first (none when the threshold is 0)."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if podutil.is_terminal(p) and not meta.is_deleting(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=lambda p: (meta.creation_time(p), meta.name_of(p)))
    return terminated[:excess]


def orphaned(pods: Iterable[Object], nodes: set[str]) -> list[Object]:
    """Pods bound to a node the cache does not know."""
    return [p for p in pods if podutil.node_name_of(p) and podutil.node_name_of(p) not in nodes]


def unscheduled_terminating(pods: Iterable[Object]) -> list[Object]:
    """Unscheduled pods terminating with a grace period left (no kubelet will finish them)."""
    return [
        p for p in pods
        if meta.is_deleting(p) and not podutil.node_name_of(p) and not force_deleted(p)
    ]  # fmt: skip


def force_deleted(pod: Object) -> bool:
    """Deleted with grace 0 already: only finalizers keep it."""
    return meta.is_deleting(pod) and meta.meta(pod).get("deletionGracePeriodSeconds") == 0


def failed_status(pod: Object, stamp: str | None = None) -> dict:
    """The status podgc writes before deleting a pod of a gone node: Failed, with the
    DisruptionTarget condition (a terminal pod keeps its phase)."""
    status = podutil.with_disruption_target(
        pod.get("status") or {}, NODE_GONE_REASON, NODE_GONE_MESSAGE, stamp
    )
    if not podutil.is_terminal(pod):
        status["phase"] = "Failed"
    return status
