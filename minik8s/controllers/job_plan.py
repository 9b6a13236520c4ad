"""The Job controller's decisions, pure (Kubernetes' pkg/controller/job, as of 1.32).

Finalizer-based tracking: every pod of a Job carries the `batch.kubernetes.io/job-tracking`
finalizer, so a finished or deleted pod stays visible until the Job has counted it. Counting
is a write-ahead log in the Job's status: a finished pod's uid first goes into
`status.uncountedTerminatedPods` (a status write), then its finalizer is removed, then the
uids whose pods no longer carry the finalizer move to `succeeded`/`failed` (another status
write). Every status write is conditional on the Job's resourceVersion, so a sync working from
a stale Job fails with a conflict and starts over instead of counting again. Whichever step a
crash interrupts, the next sync (in the same process or a new one) finishes it: no completion
is lost, none is counted twice.

Terminal conditions go through the interim `FailureTarget` / `SuccessCriteriaMet` conditions
first (active pods are then deleted), and `Failed` / `Complete` are added once no pod is
terminating and nothing is left uncounted, as Kubernetes 1.32 does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil, times
from minik8s.api.meta import Object
from minik8s.controllers import replicaset_plan
from minik8s.controllers.job_pods import (
    BACKOFF_LIMIT_EXCEEDED,
    COMPLETE,
    COMPLETIONS_REACHED,
    DEADLINE_EXCEEDED,
    FAILED,
    FAILURE_TARGET,
    MAX_PODS_PER_SYNC,
    MAX_UNCOUNTED_PODS,
    POD_FAILURE_POLICY,
    SUCCESS_CRITERIA_MET,
    SUSPENDED,
    Backoff,
    completion_index,
    format_indexes,
    has_finalizer,
    is_failed,
    is_indexed,
    is_terminating,
    match_failure_policy,
    new_pod,
    only_replace_failed,
    parse_indexes,
    spec_of,
)

# --- the sync --------------------------------------------------------------------------------


@dataclass
class Plan:
    """What one sync does, in order: create/delete pods, write `status`, remove finalizers,
    then (after `count_removed`) write the counters and maybe the terminal condition."""

    status: dict[str, Any]
    """The status to write first: uncounted uids added, active/ready/terminating, interim
    conditions."""
    create: list[Object] = field(default_factory=list)
    delete: list[Object] = field(default_factory=list)
    remove_finalizers: list[Object] = field(default_factory=list)
    final_condition: dict[str, Any] | None = None
    """Complete or Failed, to add once nothing is uncounted, active or terminating."""
    can_finish: bool = False
    """No pod left active or terminating and the counting of this sync finished."""
    requeue_after: float | None = None
    backoff: Backoff = field(default_factory=Backoff)
    events: list[tuple[str, str, str]] = field(default_factory=list)


def plan_sync(
    job: Object,
    pods: list[Object],
    now: datetime,
    *,
    expectations_satisfied: bool = True,
    expected_removals: frozenset[str] = frozenset(),
    backoff: Backoff | None = None,
) -> Plan:
    """The sync of a Job that is not finished yet, over the pods it controls."""
    spec = spec_of(job)
    stamp = times.format_time(now)
    status = copy.deepcopy(job.get("status") or {})
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    with_finalizer = {meta.uid_of(p) for p in pods if has_finalizer(p)} - expected_removals
    _count_removed(status, with_finalizer)
    counted_uids = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
    active = [p for p in pods if podutil.pod_is_active(p)]
    terminating = sum(1 for p in pods if is_terminating(p))
    fresh = [
        p for p in pods if meta.uid_of(p) in with_finalizer and meta.uid_of(p) not in counted_uids
    ]
    new_succeeded = [p for p in fresh if podutil.pod_phase(p) == "Succeeded"]
    new_failed = [p for p in fresh if is_failed(job, p)]
    succeeded = int(status.get("succeeded") or 0) + len(uncounted.get("succeeded") or [])
    succeeded += len(new_succeeded)
    failed = int(status.get("failed") or 0) + len(uncounted.get("failed") or [])
    failed += sum(1 for p in new_failed if match_failure_policy(job, p)[1])
    suspended = bool(spec.get("suspend"))
    if not status.get("startTime") and not suspended:
        status["startTime"] = stamp
    plan = Plan(
        status=status, backoff=(backoff or Backoff()).observe(new_succeeded, new_failed, now)
    )

    indexes: set[int] = set()
    completions = spec.get("completions")
    if is_indexed(job):
        limit = int(completions or 0)
        indexes = parse_indexes(status.get("completedIndexes"), limit)
        for pod in pods:
            index = completion_index(pod)
            if podutil.pod_phase(pod) == "Succeeded" and has_finalizer(pod) and index is not None:
                if index < limit:
                    indexes.add(index)
        succeeded = len(indexes)

    finishing = _finishing_condition(job, pods, failed, now, plan)
    conditions = list(status.get("conditions") or [])
    if finishing is not None:
        plan.delete = active[:MAX_PODS_PER_SYNC]
        active_count = len(active) - len(plan.delete)
    else:
        active_count = len(active)
        if expectations_satisfied and not meta.is_deleting(job):
            active_count = _manage(job, pods, active, succeeded, terminating, now, plan)
        done = succeeded > 0 if completions is None else succeeded >= int(completions)
        if done and active_count == 0:
            finishing = _condition(SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED, stamp)
        elif expectations_satisfied and not meta.is_deleting(job):
            conditions = _suspend_condition(conditions, suspended, stamp, plan)
    terminating += len(plan.delete)
    deleted = {meta.uid_of(p) for p in plan.delete}
    status["active"] = active_count
    status["ready"] = sum(
        1 for p in active if podutil.pod_is_ready(p) and meta.uid_of(p) not in deleted
    )
    status["terminating"] = terminating

    reached_max = _track(job, pods, with_finalizer, counted_uids, finishing, indexes, plan)
    if is_indexed(job):
        status["succeeded"] = len(indexes)
        text = format_indexes(indexes)
        if text:
            status["completedIndexes"] = text
        else:
            status.pop("completedIndexes", None)
    if finishing is not None:
        if not meta.condition_is_true({"status": {"conditions": conditions}}, finishing["type"]):
            conditions.append(finishing)
        final_type = COMPLETE if finishing["type"] == SUCCESS_CRITERIA_MET else FAILED
        plan.final_condition = _condition(
            final_type, finishing.get("reason", ""), finishing.get("message", ""), stamp
        )
        plan.can_finish = (
            not reached_max and active_count == 0 and terminating == 0 and expectations_satisfied
        )  # fmt: skip
    if conditions:
        status["conditions"] = conditions
    return plan


def _finishing_condition(
    job: Object, pods: list[Object], failed: int, now: datetime, plan: Plan
) -> dict[str, Any] | None:
    """An interim terminal condition already set or now due (None: the Job goes on)."""
    stamp = times.format_time(now)
    for type_ in (SUCCESS_CRITERIA_MET, FAILURE_TARGET):
        condition = meta.get_condition(job, type_)
        if condition is not None and condition.get("status") == "True":
            return condition
    for pod in pods:
        if podutil.pod_phase(pod) == "Failed" and has_finalizer(pod):
            message, _, action = match_failure_policy(job, pod)
            if action == "FailJob" and message:
                return _condition(FAILURE_TARGET, POD_FAILURE_POLICY, message, stamp)
    spec = spec_of(job)
    if failed > int(spec.get("backoffLimit", 6)) or _past_backoff_limit_on_failure(job, pods):
        return _condition(FAILURE_TARGET, *BACKOFF_LIMIT_EXCEEDED, stamp)
    deadline = spec.get("activeDeadlineSeconds")
    started = times.parse_time((job.get("status") or {}).get("startTime"))
    if deadline is not None and started is not None and not spec.get("suspend"):
        left = float(deadline) - (now - started).total_seconds()
        if left <= 0:
            return _condition(FAILURE_TARGET, *DEADLINE_EXCEEDED, stamp)
        plan.requeue_after = _earliest(plan.requeue_after, left)
    elif deadline is not None and started is None and not spec.get("suspend"):
        plan.requeue_after = _earliest(plan.requeue_after, float(deadline))
    return None


def _past_backoff_limit_on_failure(job: Object, pods: list[Object]) -> bool:
    spec = spec_of(job)
    template_spec = (spec.get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if podutil.pod_phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for container in [*(status.get("initContainerStatuses") or []),
                              *(status.get("containerStatuses") or [])]:  # fmt: skip
                restarts += int(container.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


def _manage(
    job: Object,
    pods: list[Object],
    active: list[Object],
    succeeded: int,
    terminating: int,
    now: datetime,
    plan: Plan,
) -> int:
    """Pods to create or delete towards the wanted number of active pods; the active count."""
    spec = spec_of(job)
    if spec.get("suspend"):
        plan.delete = active[:MAX_PODS_PER_SYNC]
        return len(active) - len(plan.delete)
    parallelism = int(spec.get("parallelism", 1))
    completions = spec.get("completions")
    if completions is None:
        wanted = len(active) if succeeded > 0 else parallelism
    else:
        wanted = max(0, min(parallelism, int(completions) - succeeded))
    excess = _excess_pods(job, active, max(0, len(active) - wanted))
    if excess:
        plan.delete = excess[:MAX_PODS_PER_SYNC]
        return len(active) - len(plan.delete)
    waiting = terminating if only_replace_failed(job) else 0
    missing = min(wanted - waiting - len(active), MAX_PODS_PER_SYNC)
    if missing <= 0:
        return len(active)
    wait = plan.backoff.remaining(now)
    if wait > 0:
        plan.requeue_after = _earliest(plan.requeue_after, wait)
        return len(active)
    if is_indexed(job):
        limit = int(completions or 0)
        taken = {completion_index(p) for p in active}
        if only_replace_failed(job):
            taken |= {completion_index(p) for p in pods if is_terminating(p)}
        done: set[int | None] = set()
        done |= parse_indexes((job.get("status") or {}).get("completedIndexes"), limit)
        done |= {completion_index(p) for p in pods if podutil.pod_phase(p) == "Succeeded"}
        free = (i for i in range(limit) if i not in taken and i not in done)
        plan.create = [new_pod(job, i) for _, i in zip(range(missing), free, strict=False)]
    else:
        plan.create = [new_pod(job) for _ in range(missing)]
    return len(active) + len(plan.create)


def _excess_pods(job: Object, active: list[Object], count: int) -> list[Object]:
    """Active pods to delete: an Indexed Job's duplicates and out-of-range indexes first."""
    chosen: list[Object] = []
    if is_indexed(job):
        limit = int(spec_of(job).get("completions") or 0)
        seen: set[int] = set()
        for pod in sorted(active, key=meta.creation_time):
            index = completion_index(pod)
            if index is None or index >= limit or index in seen:
                chosen.append(pod)
            elif index is not None:
                seen.add(index)
    rest = [p for p in active if p not in chosen]
    chosen += replicaset_plan.pods_to_delete(rest, count - len(chosen))
    return chosen


def _suspend_condition(
    conditions: list[dict[str, Any]], suspended: bool, stamp: str, plan: Plan
) -> list[dict[str, Any]]:
    current = meta.get_condition({"status": {"conditions": conditions}}, SUSPENDED)
    if suspended and (current is None or current.get("status") != "True"):
        plan.events.append(("Normal", "Suspended", "Job suspended"))
        return meta.set_condition(conditions, SUSPENDED, "True", "JobSuspended", "Job suspended",
                                  now=stamp, lastProbeTime=stamp)  # fmt: skip
    if not suspended and current is not None and current.get("status") == "True":
        plan.events.append(("Normal", "Resumed", "Job resumed"))
        plan.status["startTime"] = stamp  # the deadline counts from the resume
        return meta.set_condition(conditions, SUSPENDED, "False", "JobResumed", "Job resumed",
                                  now=stamp, lastProbeTime=stamp)  # fmt: skip
    return conditions


def _track(
    job: Object,
    pods: list[Object],
    with_finalizer: set[str],
    counted: set[str],
    finishing: dict[str, Any] | None,
    indexes: set[int],
    plan: Plan,
) -> bool:
    """Add finished pods to uncounted and choose whose finalizer goes; True at the cap."""
    uncounted = plan.status["uncountedTerminatedPods"]
    failing = finishing is not None and finishing["type"] == FAILURE_TARGET
    limit = int(spec_of(job).get("completions") or 0)
    added = 0
    for pod in sorted(pods, key=lambda p: completion_index(p) or 0):
        uid = meta.uid_of(pod)
        if uid not in with_finalizer:
            continue
        failed = is_failed(job, pod)
        phase = podutil.pod_phase(pod)
        if not (meta.is_deleting(pod) or finishing is not None or phase == "Succeeded" or failed):
            continue
        plan.remove_finalizers.append(pod)
        if uid in counted:
            continue
        index = completion_index(pod)
        if phase == "Succeeded":
            if is_indexed(job):
                if index is not None and index < limit:
                    indexes.add(index)
            else:
                uncounted.setdefault("succeeded", []).append(uid)
                added += 1
        elif failed or failing:
            if is_indexed(job) and (index is None or index >= limit):
                continue
            if match_failure_policy(job, pod)[1]:
                uncounted.setdefault("failed", []).append(uid)
                added += 1
        if added >= MAX_UNCOUNTED_PODS:
            return True
    return False


def count_removed(status: dict[str, Any], with_finalizer: set[str]) -> dict[str, Any]:
    """The status with every uncounted uid whose pod has no finalizer left counted."""
    result = copy.deepcopy(status)
    _count_removed(result, with_finalizer)
    return result


def _count_removed(status: dict[str, Any], with_finalizer: set[str]) -> None:
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    for key in ("succeeded", "failed"):
        uids = list(uncounted.get(key) or [])
        kept = [uid for uid in uids if uid in with_finalizer]
        if len(kept) != len(uids):
            status[key] = int(status.get(key) or 0) + len(uids) - len(kept)
        if kept:
            uncounted[key] = kept
        else:
            uncounted.pop(key, None)


def finish(status: dict[str, Any], condition: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The status with the terminal condition (and completionTime for Complete)."""
    result = copy.deepcopy(status)
    conditions = list(result.get("conditions") or [])
    conditions.append(condition)
    result["conditions"] = conditions
    if condition["type"] == COMPLETE:
        result["completionTime"] = times.format_time(now)
    return result


def _condition(type_: str, reason: str, message: str, stamp: str) -> dict[str, Any]:
    condition = {"type": type_, "status": "True", "lastProbeTime": stamp,
                 "lastTransitionTime": stamp}  # fmt: skip
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)
