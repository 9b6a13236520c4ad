"""The CronJob controller's decisions, pure, against an injected `now` (Kubernetes'
pkg/controller/cronjob, v2): which scheduled time is due, whether its Job may start under the
concurrency policy and starting deadline, which Jobs the status lists as active, and which
finished Jobs the history limits drop."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minik8s.api import cronschedule, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import CRONJOBS, JOBS
from minik8s.controllers import job_pods

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
"""Annotation of a CronJob's Job: the time it was scheduled for (RFC 3339, in the timeZone)."""
MAX_MISSED = 100
"""More missed start times than this are reported (TooManyMissedTimes)."""

Event = tuple[str, str, str]


@dataclass
class CronPlan:
    status: dict[str, Any]
    create: Object | None = None
    """The Job to create now, if one is due."""
    delete: list[tuple[Object, str]] = field(default_factory=list)
    """Jobs to delete (Replace, or beyond a history limit), each with its event message."""
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def job_name(cronjob: Object, scheduled: datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: one name per scheduled time, so never twice."""
    return f"{meta.name_of(cronjob)}-{int(scheduled.timestamp()) // 60}"


def plan_cronjob(cronjob: Object, jobs: list[Object], now: datetime) -> CronPlan:
    """The sync of `cronjob` given the Jobs it controls."""
    spec = cronjob.get("spec") or {}
    plan = CronPlan(status=copy.deepcopy(cronjob.get("status") or {}))
    _sync_active(cronjob, jobs, plan)
    plan.delete += _history_cleanup(cronjob, jobs)
    if meta.is_deleting(cronjob) or spec.get("suspend"):
        return plan
    try:
        zone = cronschedule.load_time_zone(spec.get("timeZone"))
    except cronschedule.ScheduleError as e:
        plan.events.append(("Warning", "UnknownTimeZone", str(e)))
        return plan
    try:
        schedule = cronschedule.parse(str(spec.get("schedule") or ""))
    except cronschedule.ScheduleError as e:
        plan.events.append(
            (
                "Warning",
                "UnparseableSchedule",
                f"unparseable schedule: {spec.get('schedule')!r} : {e}",
            )
        )
        return plan
    local_now = now.astimezone(zone)
    scheduled, missed = most_recent_schedule(cronjob, schedule, local_now)
    next_run = schedule.next_after(local_now)
    plan.requeue_after = max(0.0, (next_run - local_now).total_seconds()) + 0.1
    if scheduled is None:
        return plan
    if missed > MAX_MISSED:
        plan.events.append(
            (
                "Warning",
                "TooManyMissedTimes",
                f"too many missed start times: {missed}. Set or decrease "
                ".spec.startingDeadlineSeconds or check clock skew",
            )
        )
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < local_now:
        plan.events.append(
            (
                "Warning",
                "MissSchedule",
                f"Missed scheduled time to start a job: {scheduled.strftime(times.RFC1123Z)}",
            )
        )
        return plan
    name = job_name(cronjob, scheduled)
    active = plan.status.get("active") or []
    last = times.parse_time(plan.status.get("lastScheduleTime"))
    if any(ref.get("name") == name for ref in active) or last == scheduled:
        return plan  # this scheduled time is already processed
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        plan.events.append(
            (
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior "
                "execution is running and concurrency policy is Forbid",
            )
        )
        return plan
    if policy == "Replace":
        by_uid = {meta.uid_of(j): j for j in jobs}
        for ref in active:
            job = by_uid.get(str(ref.get("uid")))
            if job is not None:
                plan.delete.append((job, f"Deleted job {meta.name_of(job)}"))
        plan.status["active"] = []
    plan.create = new_job(cronjob, scheduled, zone)
    plan.status["lastScheduleTime"] = times.format_time(scheduled)
    return plan


def most_recent_schedule(
    cronjob: Object, schedule: cronschedule.Schedule, now: datetime
) -> tuple[datetime | None, int]:
    """The latest scheduled time not yet started (None if none is due), and how many times
    were missed since the last one (Kubernetes' mostRecentScheduleTime)."""
    status = cronjob.get("status") or {}
    earliest = times.parse_time(status.get("lastScheduleTime")) or meta.creation_time(cronjob)
    deadline = (cronjob.get("spec") or {}).get("startingDeadlineSeconds")
    if deadline is not None:
        window_start = now - timedelta(seconds=int(deadline))
        if earliest < window_start:
            earliest = window_start
    earliest = earliest.astimezone(now.tzinfo)
    first = schedule.next_after(earliest)
    if first > now:
        return None, 0
    latest, missed = first, 1
    moment = schedule.next_after(first)
    while moment <= now and missed <= MAX_MISSED:
        latest, missed = moment, missed + 1
        moment = schedule.next_after(moment)
    if moment <= now:  # too many to walk: jump to the last one
        if schedule.every:
            steps = int((now - first).total_seconds() // schedule.every)
            latest = first + timedelta(seconds=steps * schedule.every)
        else:
            latest = schedule.latest_until(now)
    return latest, missed


def new_job(cronjob: Object, scheduled: datetime, zone: Any) -> Object:
    template = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    stamp_zone = zone if (cronjob.get("spec") or {}).get("timeZone") else UTC
    annotations[SCHEDULED_TIMESTAMP] = scheduled.astimezone(stamp_zone).isoformat()
    metadata: dict[str, Any] = {
        "name": job_name(cronjob, scheduled),
        "namespace": meta.namespace_of(cronjob),
        "annotations": annotations,
        "ownerReferences": [meta.owner_reference(CRONJOBS, cronjob)],
    }
    if template_meta.get("labels"):
        metadata["labels"] = dict(template_meta["labels"])
    return {
        "apiVersion": JOBS.api_version,
        "kind": "Job",
        "metadata": metadata,
        "spec": template.get("spec") or {},
    }


def job_reference(job: Object) -> dict[str, Any]:
    m = meta.meta(job)
    return {
        "apiVersion": JOBS.api_version,
        "kind": "Job",
        "namespace": m.get("namespace"),
        "name": m.get("name"),
        "uid": m.get("uid"),
        "resourceVersion": m.get("resourceVersion"),
    }


def _finished_type(job: Object) -> str | None:
    for type_ in (job_pods.COMPLETE, job_pods.FAILED):
        if meta.condition_is_true(job, type_):
            return type_
    return None


def _sync_active(cronjob: Object, jobs: list[Object], plan: CronPlan) -> None:
    status = plan.status
    active = [dict(r) for r in status.get("active") or []]
    by_uid = {meta.uid_of(j): j for j in jobs}
    active_uids = {str(r.get("uid")) for r in active}
    for job in sorted(jobs, key=meta.name_of):
        finished = _finished_type(job)
        if finished is None and meta.uid_of(job) not in active_uids:
            plan.events.append(
                (
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {meta.name_of(job)}",
                )
            )
            active.append(job_reference(job))
            active_uids.add(meta.uid_of(job))
        elif finished is not None and meta.uid_of(job) in active_uids:
            plan.events.append(
                (
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {meta.name_of(job)}, condition: {finished}",
                )
            )
            active = [r for r in active if r.get("uid") != meta.uid_of(job)]
            active_uids.discard(meta.uid_of(job))
        if finished == job_pods.COMPLETE:
            done = times.parse_time((job.get("status") or {}).get("completionTime"))
            last = times.parse_time(status.get("lastSuccessfulTime"))
            if done is not None and (last is None or done > last):
                status["lastSuccessfulTime"] = times.format_time(done)
    kept = []
    for ref in active:
        if str(ref.get("uid")) in by_uid:
            kept.append(ref)
        else:
            plan.events.append(
                ("Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
            )
    if kept:
        status["active"] = kept
    else:
        status.pop("active", None)


def _history_cleanup(cronjob: Object, jobs: list[Object]) -> list[tuple[Object, str]]:
    spec = cronjob.get("spec") or {}
    chosen: list[tuple[Object, str]] = []
    for type_, limit_field in (
        (job_pods.COMPLETE, "successfulJobsHistoryLimit"),
        (job_pods.FAILED, "failedJobsHistoryLimit"),
    ):
        limit = spec.get(limit_field)
        if limit is None:
            continue
        finished = [j for j in jobs if _finished_type(j) == type_ and not meta.is_deleting(j)]
        finished.sort(key=_start_key)
        for job in finished[: max(0, len(finished) - int(limit))]:
            chosen.append((job, f"Deleted job {meta.name_of(job)}"))
    return chosen


def _start_key(job: Object) -> tuple[datetime, str]:
    started = times.parse_time((job.get("status") or {}).get("startTime"))
    return (started or meta.creation_time(job), meta.name_of(job))
