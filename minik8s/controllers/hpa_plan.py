"""From the metrics' proposal to the replicas an autoscaler sets (pure): Kubernetes'
stabilization, rate limits and bounds, and the conditions they explain themselves with.

Without `behavior` (autoscaling/v1 objects, v2 ones that leave it out): the highest
recommendation of the last downscale-stabilization window (5 minutes, the controller's flag)
wins, a scale up is at most max(2 x current, 4), and min/max bound the result. With
`behavior`: scale-up and scale-down stabilization windows (the lowest / highest recent
recommendation), then the policies (Pods or Percent per period, over the scale events of that
period) chosen by selectPolicy, then min/max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from minik8s.api import meta
from minik8s.api.meta import Object

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4


@dataclass(frozen=True)
class Recommendation:
    timestamp: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    timestamp: float
    change: int


@dataclass
class History:
    """What the controller remembers of one autoscaler between syncs."""

    recommendations: list[Recommendation] = field(default_factory=list)
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    replicas: int
    able_to_scale: Condition
    scaling_limited: Condition


WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")


# --- without behavior -------------------------------------------------------------------------


def stabilize(history: History, proposed: int, window: float, now: float) -> int:
    """The highest recommendation within `window` (proposed included); records `proposed`."""
    highest = proposed
    for rec in history.recommendations:
        if rec.timestamp + window > now:
            highest = max(highest, rec.replicas)
    history.recommendations = [r for r in history.recommendations if r.timestamp + window > now] + [
        Recommendation(now, proposed)
    ]
    return highest


def with_rules(current: int, desired: int, minimum: int, maximum: int) -> tuple[int, str, str]:
    """convertDesiredReplicasWithRules: the bounds and the scale-up limit."""
    up_limit = max(int(SCALE_UP_LIMIT_FACTOR * current), SCALE_UP_LIMIT_MINIMUM)
    if maximum > up_limit:
        allowed_max, limiting = (
            up_limit,
            (
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            ),
        )
    else:
        allowed_max, limiting = maximum, (
            "TooManyReplicas", "the desired replica count is more than the maximum replica count"
        )  # fmt: skip
    if minimum == 0:
        allowed_min, too_few = 1, ("TooFewReplicas", "the desired replica count is zero")
    else:
        allowed_min, too_few = minimum, (
            "TooFewReplicas", "the desired replica count is less than the minimum replica count"
        )  # fmt: skip
    if desired < allowed_min:
        return allowed_min, *too_few
    if desired > allowed_max:
        return allowed_max, *limiting
    return desired, *WITHIN_RANGE


def normalize(
    history: History, current: int, proposed: int, minimum: int, maximum: int,
    downscale_window: float, now: float,
) -> Decision:  # fmt: skip
    stabilized = stabilize(history, proposed, downscale_window, now)
    if stabilized != proposed:
        able = Condition(
            "AbleToScale", "True", "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent "
            "recommendation",
        )  # fmt: skip
    else:
        able = Condition(
            "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
        )
    desired, reason, message = with_rules(current, stabilized, minimum, maximum)
    limited = Condition(
        "ScalingLimited", "False" if desired == stabilized else "True", reason, message
    )
    return Decision(desired, able, limited)


# --- with behavior ---------------------------------------------------------------------------


def stabilize_with_behavior(
    history: History, current: int, proposed: int, up_window: float, down_window: float,
    now: float,
) -> tuple[int, str, str]:  # fmt: skip
    up, down = proposed, proposed
    for rec in history.recommendations:
        if rec.timestamp > now - up_window:
            up = min(up, rec.replicas)
        if rec.timestamp > now - down_window:
            down = max(down, rec.replicas)
    longest = max(up_window, down_window)
    history.recommendations = [
        r for r in history.recommendations if r.timestamp > now - longest
    ] + [Recommendation(now, proposed)]
    recommendation = max(current, up)
    recommendation = min(recommendation, down)
    if recommendation == proposed:
        return recommendation, "ReadyForNewScale", "recommended size matches current size"
    if recommendation > proposed:
        return recommendation, "ScaleDownStabilized", (
            "recent recommendations were higher than current one, applying the highest recent "
            "recommendation"
        )  # fmt: skip
    return recommendation, "ScaleUpStabilized", (
        "recent recommendations were lower than current one, applying the lowest recent "
        "recommendation"
    )  # fmt: skip


def _changed_within(events: list[ScaleEvent], period: float, now: float) -> int:
    return sum(e.change for e in events if e.timestamp > now - period)


def scale_up_limit(current: int, events: list[ScaleEvent], rules: Object, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    result: int | None = None
    for policy in rules.get("policies") or []:
        start = current - _changed_within(events, policy.get("periodSeconds", 15), now)
        if policy.get("type") == "Pods":
            proposed = start + int(policy.get("value", 0))
        else:
            proposed = math.ceil(start * (1 + int(policy.get("value", 0)) / 100))
        if result is None:
            result = proposed
        else:
            result = min(result, proposed) if select == "Min" else max(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, events: list[ScaleEvent], rules: Object, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    result: int | None = None
    for policy in rules.get("policies") or []:
        start = current + _changed_within(events, policy.get("periodSeconds", 15), now)
        if policy.get("type") == "Pods":
            proposed = start - int(policy.get("value", 0))
        else:
            proposed = int(start * (1 - int(policy.get("value", 0)) / 100))
        if result is None:
            result = proposed
        else:  # Max lets the most pods go: the lowest count
            result = max(result, proposed) if select == "Min" else min(result, proposed)
    return current if result is None else result


def with_behavior_rate(
    history: History, current: int, desired: int, minimum: int, maximum: int,
    behavior: Object, now: float,
) -> tuple[int, str, str]:  # fmt: skip
    if desired > current:
        limit = max(current, scale_up_limit(current, history.scale_up_events,
                                            behavior.get("scaleUp") or {}, now))  # fmt: skip
        if maximum > limit:
            allowed, reason, message = limit, "ScaleUpLimit", (
                "the desired replica count is increasing faster than the maximum scale rate"
            )  # fmt: skip
        else:
            allowed, reason, message = maximum, "TooManyReplicas", (
                "the desired replica count is more than the maximum replica count"
            )  # fmt: skip
        if desired > allowed:
            return allowed, reason, message
    elif desired < current:
        limit = min(current, scale_down_limit(current, history.scale_down_events,
                                              behavior.get("scaleDown") or {}, now))  # fmt: skip
        if minimum < limit:
            allowed, reason, message = limit, "ScaleDownLimit", (
                "the desired replica count is decreasing faster than the maximum scale rate"
            )  # fmt: skip
        else:
            allowed, reason, message = minimum, "TooFewReplicas", (
                "the desired replica count is less than the minimum replica count"
            )  # fmt: skip
        if desired < allowed:
            return allowed, reason, message
    return desired, *WITHIN_RANGE


def normalize_with_behavior(
    history: History, current: int, proposed: int, minimum: int, maximum: int,
    behavior: Object, downscale_window: float, now: float,
) -> Decision:  # fmt: skip
    up = (behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds")
    down = (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds")
    stabilized, reason, message = stabilize_with_behavior(
        history, current, proposed, float(up or 0),
        float(downscale_window if down is None else down), now,
    )  # fmt: skip
    if stabilized != proposed:
        able = Condition("AbleToScale", "True", reason, message)
    else:
        able = Condition(
            "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
        )
    desired, reason, message = with_behavior_rate(
        history, current, stabilized, minimum, maximum, behavior, now
    )
    limited = Condition(
        "ScalingLimited", "False" if desired == stabilized else "True", reason, message
    )
    return Decision(desired, able, limited)


def record_scale(
    history: History, before: int, after: int, behavior: Object | None, now: float
) -> None:
    """Remember a rescale for the behavior's rate limits (events older than the longest
    policy period are dropped)."""
    if not behavior or before == after:
        return
    up = after > before
    rules = behavior.get("scaleUp" if up else "scaleDown") or {}
    longest = max((p.get("periodSeconds", 15) for p in rules.get("policies") or []), default=15)
    events = history.scale_up_events if up else history.scale_down_events
    kept = [e for e in events if e.timestamp > now - longest]
    kept.append(ScaleEvent(now, abs(after - before)))
    if up:
        history.scale_up_events = kept
    else:
        history.scale_down_events = kept


def set_condition(conditions: list[Object], condition: Condition, now: str) -> list[Object]:
    """`conditions` with `condition` set (its lastTransitionTime kept unless status flips)."""
    return meta.set_condition(
        conditions, condition.type, condition.status, condition.reason, condition.message, now
    )
