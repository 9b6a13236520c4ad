"""Printers of the `batch` group: Jobs and CronJobs (`kubectl get jobs,cronjobs`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta, times
from minik8s.api.meta import Object
from minik8s.printers.columns import (
    NAME,
    TEMPLATE_COLUMNS,
    Cells,
    Column,
    format_label_selector,
    template_cells,
)

JOB_COLUMNS = (
    NAME,
    Column("Status", "Status of the job."),
    Column("Completions", "The completion status of the job."),
    Column("Duration", "Time required to complete the job."),
    *TEMPLATE_COLUMNS,
)


def job_status_text(job: Object) -> str:
    """The STATUS column of `kubectl get jobs`."""
    if meta.condition_is_true(job, "Complete"):
        return "Complete"
    if meta.condition_is_true(job, "Failed"):
        return "Failed"
    if meta.is_deleting(job):
        return "Terminating"
    if meta.condition_is_true(job, "FailureTarget"):
        return "FailureTarget"
    if meta.condition_is_true(job, "SuccessCriteriaMet"):
        return "SuccessCriteriaMet"
    if meta.condition_is_true(job, "Suspended"):
        return "Suspended"
    return "Running"


def job_completions_text(job: Object) -> str:
    spec, status = meta.spec_of(job), meta.status_of(job)
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration_text(job: Object, now: datetime) -> str:
    status = meta.status_of(job)
    start = times.parse_time(status.get("startTime"))
    if start is None:
        return ""
    end = times.parse_time(status.get("completionTime")) or now
    return times.human_duration(end - start)


def job_cells(job: Object, now: datetime) -> Cells:
    spec = meta.spec_of(job)
    selector = format_label_selector(spec.get("selector"))
    return [
        meta.name_of(job),
        job_status_text(job),
        job_completions_text(job),
        job_duration_text(job, now),
        *template_cells(job, spec.get("template"), selector, now),
    ]


CRONJOB_COLUMNS = (
    NAME,
    Column("Schedule", "The schedule in Cron format."),
    Column("Timezone", "The time zone the schedule runs in."),
    Column("Suspend", "Whether further executions are suspended.", type="boolean"),
    Column("Active", "Number of currently running jobs.", type="integer"),
    Column("Last Schedule", "When the last job was successfully scheduled."),
    *TEMPLATE_COLUMNS,
)


def cronjob_cells(cronjob: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(cronjob), meta.status_of(cronjob)
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    selector = job_spec.get("selector")
    return [
        meta.name_of(cronjob),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        bool(spec.get("suspend")),
        len(status.get("active") or []),
        times.since(last, now) if last else "<none>",
        *template_cells(
            cronjob,
            job_spec.get("template"),
            format_label_selector(selector) if selector else "<none>",
            now,
        ),
    ]
