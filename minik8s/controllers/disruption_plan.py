"""The disruption controller's decisions, pure (Kubernetes' pkg/controller/disruption): how
many of a PodDisruptionBudget's pods must stay healthy, how many are, and so how many may be
disrupted now."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minik8s.api import meta, podutil, selectors, times
from minik8s.api.meta import Object

DELETION_TIMEOUT = 120.0
"""Seconds an eviction recorded in `disruptedPods` waits for its pod to be deleted."""
DISRUPTION_ALLOWED = "DisruptionAllowed"


class NoController(ValueError):
    """A pod the budget needs the scale of has no controller (percentages, maxUnavailable)."""


@dataclass(frozen=True)
class Expected:
    pods: int
    """expectedPods: how many pods the budget covers."""
    healthy: int
    """desiredHealthy: how many must stay healthy."""


def selected_pods(pdb: Object, pods: Iterable[Object]) -> list[Object]:
    """The pods of the budget's namespace its selector matches (policy/v1: `{}` is all)."""
    selector = (pdb.get("spec") or {}).get("selector")
    try:
        parsed = selectors.label_selector_from_object(selector)
    except selectors.InvalidSelector:
        return []
    return [p for p in pods if parsed.matches(meta.labels_of(p))]


def needs_scale(pdb: Object) -> bool:
    """Whether the count comes from the pods' controllers (maxUnavailable or a percentage)."""
    spec = pdb.get("spec") or {}
    return spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str)


def expected(pdb: Object, pods: list[Object], scale: int | None) -> Expected:
    """`scale`: the sum of the replicas of the pods' controllers (when `needs_scale`)."""
    spec = pdb.get("spec") or {}
    max_unavailable = spec.get("maxUnavailable")
    min_available = spec.get("minAvailable")
    if max_unavailable is not None:
        count = int(scale or 0)
        return Expected(count, max(0, count - _scaled(max_unavailable, count, round_up=True)))
    if isinstance(min_available, str):
        count = int(scale or 0)
        return Expected(count, _scaled(min_available, count, round_up=True))
    if isinstance(min_available, int):
        return Expected(len(pods), min_available)
    return Expected(len(pods), 0)


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    percent = int(str(value).rstrip("%") or 0)
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def compute_status(
    pdb: Object, pods: list[Object], wanted: Expected, now: datetime
) -> tuple[dict[str, Any], float | None]:
    """The budget's status, and when to look again (a recorded eviction expiring)."""
    old = pdb.get("status") or {}
    disrupted, recheck = _disrupted(old.get("disruptedPods") or {}, pods, now)
    healthy = sum(
        1
        for p in pods
        if not meta.is_deleting(p) and meta.name_of(p) not in disrupted and podutil.pod_is_ready(p)
    )
    allowed = healthy - wanted.healthy
    if wanted.pods <= 0 or allowed <= 0:
        allowed = 0
    status: dict[str, Any] = {
        "observedGeneration": meta.generation_of(pdb),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": wanted.healthy,
        "expectedPods": wanted.pods,
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
    status["conditions"] = budget_condition(
        old.get("conditions"),
        "True" if allowed > 0 else "False",
        reason,
        "",
        times.format_time(now),
        meta.generation_of(pdb),
    )
    return status, recheck


def failed_status(pdb: Object, message: str, now: datetime) -> dict[str, Any]:
    """What a budget shows when its sync fails: no disruption allowed (fail safe)."""
    old = pdb.get("status") or {}
    status = dict(old)
    status["disruptionsAllowed"] = 0
    status["observedGeneration"] = meta.generation_of(pdb)
    status["conditions"] = budget_condition(
        old.get("conditions"),
        "False",
        "SyncFailed",
        message,
        times.format_time(now),
        meta.generation_of(pdb),
    )
    return status


def budget_condition(
    conditions: Any, status: str, reason: str, message: str, stamp: str, generation: int
) -> list[dict[str, Any]]:
    """The conditions with DisruptionAllowed set: a metav1.Condition, whose reason and message
    are required (an empty message is written as "")."""
    result = meta.set_condition(
        list(conditions or []),
        DISRUPTION_ALLOWED,
        status,
        reason,
        message,
        now=stamp,
        observedGeneration=generation,
    )
    for condition in result:
        condition.setdefault("message", "")
    return result


def _disrupted(
    recorded: Mapping[str, str], pods: list[Object], now: datetime
) -> tuple[dict[str, str], float | None]:
    """Evictions still awaiting their pod's deletion, and the first one to expire."""
    by_name = {meta.name_of(p): p for p in pods}
    kept: dict[str, str] = {}
    recheck: float | None = None
    for name, stamp in recorded.items():
        pod = by_name.get(name)
        moment = times.parse_time(stamp)
        if pod is None or meta.is_deleting(pod) or moment is None:
            continue
        expires = moment + timedelta(seconds=DELETION_TIMEOUT)
        if expires <= now:
            continue
        kept[name] = stamp
        left = (expires - now).total_seconds()
        recheck = left if recheck is None else min(recheck, left)
    return kept, recheck


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    old = dict(old or {})
    keys = (
        "observedGeneration",
        "disruptionsAllowed",
        "currentHealthy",
        "desiredHealthy",
        "expectedPods",
        "disruptedPods",
    )
    if any(old.get(k) != new.get(k) for k in keys):
        return True
    strip = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in old.get("conditions") or []
    ]
    return strip != [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in new.get("conditions") or []
    ]
