"""Server-side printing of ReplicationControllers, Jobs, CronJobs and PodDisruptionBudgets:
the columns and cells of Kubernetes' printers for these kinds (pkg/printers/internalversion).
Registered into `tables.PRINTERS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import meta, resources, selectors, times
from minik8s.apiserver import tables
from minik8s.apiserver.tables import AGE, CONTAINERS, IMAGES, NAME, SELECTOR, Column

Obj = dict[str, Any]
Cells = list[Any]


def _containers(template: Obj) -> tuple[str, str]:
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    return (
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    )


def _selector_text(selector: Any) -> str:
    try:
        text = str(selectors.label_selector_from_object(selector))
    except selectors.InvalidSelector:
        return "<error>"
    return text or "<none>"


RC_COLUMNS = (
    NAME,
    Column("Desired", "Number of desired pods.", type="integer"),
    Column("Current", "Number of actually running pods.", type="integer"),
    Column("Ready", "Number of ready pods.", type="integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def _rc_cells(rc: Obj, now: datetime) -> Cells:
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [
        meta.name_of(rc),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        times.since(meta.meta(rc).get("creationTimestamp"), now),
        names,
        images,
        tables.format_labels(spec.get("selector")),
    ]


JOB_COLUMNS = (
    NAME,
    Column("Status", "Status of the job."),
    Column("Completions", "The completion status of the job."),
    Column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def job_status_text(job: Obj) -> str:
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


def job_completions_text(job: Obj) -> str:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration_text(job: Obj, now: datetime) -> str:
    status = job.get("status") or {}
    start = times.parse_time(status.get("startTime"))
    if start is None:
        return ""
    end = times.parse_time(status.get("completionTime")) or now
    return times.human_duration(end - start)


def _job_cells(job: Obj, now: datetime) -> Cells:
    spec = job.get("spec") or {}
    names, images = _containers(spec.get("template") or {})
    return [
        meta.name_of(job),
        job_status_text(job),
        job_completions_text(job),
        job_duration_text(job, now),
        times.since(meta.meta(job).get("creationTimestamp"), now),
        names,
        images,
        _selector_text(spec.get("selector")),
    ]


CRONJOB_COLUMNS = (
    NAME,
    Column("Schedule", "The schedule in Cron format."),
    Column("Timezone", "The time zone the schedule runs in."),
    Column("Suspend", "Whether further executions are suspended.", type="boolean"),
    Column("Active", "Number of currently running jobs.", type="integer"),
    Column("Last Schedule", "When the last job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def _cronjob_cells(cronjob: Obj, now: datetime) -> Cells:
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job_spec.get("template") or {})
    last = status.get("lastScheduleTime")
    return [
        meta.name_of(cronjob),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        bool(spec.get("suspend")),
        len(status.get("active") or []),
        times.since(last, now) if last else "<none>",
        times.since(meta.meta(cronjob).get("creationTimestamp"), now),
        names,
        images,
        _selector_text(job_spec.get("selector")) if job_spec.get("selector") else "<none>",
    ]


PDB_COLUMNS = (
    NAME,
    Column(
        "Min Available", "The minimum number or percentage of available pods this budget requires."
    ),
    Column(
        "Max Unavailable",
        "The maximum number or percentage of unavailable pods this budget allows.",
    ),
    Column(
        "Allowed Disruptions",
        "Calculates the maximum number of pods that can be disrupted at this time.",
        type="integer",
    ),
    AGE,
)


def _pdb_cells(pdb: Obj, now: datetime) -> Cells:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [
        meta.name_of(pdb),
        "N/A" if min_available is None else str(min_available),
        "N/A" if max_unavailable is None else str(max_unavailable),
        status.get("disruptionsAllowed", 0),
        times.since(meta.meta(pdb).get("creationTimestamp"), now),
    ]


PRINTERS: dict[resources.ResourceType, tables.Printer] = {
    resources.REPLICATIONCONTROLLERS: (RC_COLUMNS, _rc_cells),
    resources.JOBS: (JOB_COLUMNS, _job_cells),
    resources.CRONJOBS: (CRONJOB_COLUMNS, _cronjob_cells),
    resources.PODDISRUPTIONBUDGETS: (PDB_COLUMNS, _pdb_cells),
}
