"""A Deployment's status and its Available / Progressing conditions, pure, as
`kubectl rollout status` reads them (Kubernetes' calculateStatus and syncRolloutStatus)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from minik8s.api import meta, times
from minik8s.api.meta import Object
from minik8s.controllers.rollout import max_unavailable, replicas, status_int

AVAILABLE = "Available"
PROGRESSING = "Progressing"

MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"

NO_DEADLINE = 2**31 - 1


def get_condition(status: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of this type in a Deployment's status."""
    return meta.find_condition(status.get("conditions"), type_)


def set_condition(
    status: dict[str, Any], type_: str, value: str, reason: str, message: str, now: datetime
) -> None:
    """Kubernetes' SetDeploymentCondition: same status and reason changes nothing; the
    transition time moves only when the status does."""
    stamp = times.format_time(now)
    current = get_condition(status, type_)
    if current is not None and current.get("status") == value and current.get("reason") == reason:
        return
    condition = {"type": type_, "status": value, "lastUpdateTime": stamp,
                 "lastTransitionTime": stamp, "reason": reason, "message": message}  # fmt: skip
    if current is not None and current.get("status") == value:
        condition["lastTransitionTime"] = current.get("lastTransitionTime") or stamp
    others = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    status["conditions"] = [*others, condition]


def calculate_status(
    d: Object, all_rss: list[Object], new_rs: Object | None, now: datetime
) -> dict[str, Any]:
    old = d.get("status") or {}
    available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
    total = sum(replicas(rs) for rs in all_rss)
    status: dict[str, Any] = {
        "observedGeneration": int(meta.meta(d).get("generation") or 0),
        "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, AVAILABLE, "True", MIN_AVAILABLE,
                      "Deployment has minimum availability.", now)  # fmt: skip
    else:
        set_condition(status, AVAILABLE, "False", MIN_UNAVAILABLE,
                      "Deployment does not have minimum availability.", now)  # fmt: skip
    return status


def progress_deadline(d: Mapping[str, Any]) -> int | None:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    if value is None or int(value) == NO_DEADLINE:
        return None
    return int(value)


def is_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (
        int(status.get("updatedReplicas") or 0) == want
        and int(status.get("replicas") or 0) == want
        and int(status.get("availableReplicas") or 0) == want
        and int(status.get("observedGeneration") or 0) >= int(meta.meta(d).get("generation") or 0)
    )


def is_progressing(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def get(s: Mapping[str, Any], k: str) -> int:
        return int(s.get(k) or 0)

    return (
        get(new, "updatedReplicas") > get(old, "updatedReplicas")
        or get(new, "replicas") < get(old, "replicas")
        or get(new, "readyReplicas") > get(old, "readyReplicas")
        or get(new, "availableReplicas") > get(old, "availableReplicas")
    )


def timed_out(d: Mapping[str, Any], status: Mapping[str, Any], now: datetime) -> bool:
    deadline = progress_deadline(d)
    condition = get_condition(status, PROGRESSING)
    if deadline is None or condition is None:
        return False
    if condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    since = times.parse_time(condition.get("lastUpdateTime"))
    return since is not None and times.add_seconds(since, deadline) < now


def rollout_status(
    d: Object, all_rss: list[Object], new_rs: Object | None, now: datetime
) -> dict[str, Any]:
    """The status after a rollout step, Progressing condition included."""
    status = calculate_status(d, all_rss, new_rs, now)
    if progress_deadline(d) is None:
        return status
    current = get_condition(status, PROGRESSING)
    already_complete = (
        status["replicas"] == status["updatedReplicas"]
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    if already_complete:
        return status
    rs_name = meta.name_of(new_rs) if new_rs is not None else ""
    if is_complete(d, status):
        set_condition(status, PROGRESSING, "True", NEW_RS_AVAILABLE,
                      f'ReplicaSet "{rs_name}" has successfully progressed.', now)  # fmt: skip
    elif is_progressing(d.get("status") or {}, status):
        message = (
            f'ReplicaSet "{rs_name}" is progressing.' if rs_name else "Deployment is progressing."
        )
        if current is not None and current.get("status") == "True":
            # Progress moves lastUpdateTime on: the deadline counts from the last progress.
            others = [c for c in status["conditions"] if c.get("type") != PROGRESSING]
            stamp = times.format_time(now)
            status["conditions"] = [*others, {**current, "reason": RS_UPDATED, "message": message,
                                              "lastUpdateTime": stamp}]  # fmt: skip
        else:
            set_condition(status, PROGRESSING, "True", RS_UPDATED, message, now)
    elif timed_out(d, status, now):
        set_condition(status, PROGRESSING, "False", TIMED_OUT,
                      f'ReplicaSet "{rs_name}" has timed out progressing.', now)  # fmt: skip
    return status


def paused_condition(d: Object, status: dict[str, Any], now: datetime) -> None:
    """Progressing=Unknown DeploymentPaused while paused; DeploymentResumed once resumed."""
    if progress_deadline(d) is None:
        return
    paused = bool((d.get("spec") or {}).get("paused"))
    current = get_condition(status, PROGRESSING)
    reason = (current or {}).get("reason")
    if paused and reason != PAUSED:
        set_condition(status, PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
    elif not paused and reason == PAUSED:
        set_condition(status, PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now)


def seconds_to_deadline(
    d: Mapping[str, Any], status: Mapping[str, Any], now: datetime
) -> float | None:
    """When to look again for a rollout that might time out; None if it cannot."""
    deadline = progress_deadline(d)
    condition = get_condition(status, PROGRESSING)
    if deadline is None or condition is None or is_complete(d, status):
        return None
    if condition.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
        return None
    since = times.parse_time(condition.get("lastUpdateTime"))
    if since is None:
        return None
    return max(0.0, (times.add_seconds(since, deadline) - now).total_seconds()) + 0.5


def status_differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    return dict(old or {}) != dict(new)
