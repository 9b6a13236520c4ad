"""`describe` of Jobs, CronJobs and PodDisruptionBudgets in kubectl's layout (pure);
ReplicationControllers share the ReplicaSet describer. Registered into `describers`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import meta as objmeta
from minik8s.api import resources, times
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import describers as d

UNSET = "<unset>"


def _unset(value: Any) -> str:
    return UNSET if value is None else str(value)


def describe_job(job: Object, extras: Object) -> list[str]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    meta = objmeta.meta(job)
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    lines.append(f"Selector:\t{d._selector(job)}")
    lines += d._map_lines("Labels", meta.get("labels"))
    lines += d._map_lines("Annotations", meta.get("annotations"))
    lines += d._controlled_by(job)
    lines.append(f"Parallelism:\t{_unset(spec.get('parallelism'))}")
    lines.append(f"Completions:\t{_unset(spec.get('completions'))}")
    lines.append(f"Completion Mode:\t{spec.get('completionMode', 'NonIndexed')}")
    lines.append(f"Suspend:\t{str(bool(spec.get('suspend'))).lower()}")
    lines.append(f"Backoff Limit:\t{spec.get('backoffLimit', 6)}")
    if spec.get("ttlSecondsAfterFinished") is not None:
        lines.append(f"TTL Seconds After Finished:\t{spec['ttlSecondsAfterFinished']}")
    if status.get("startTime"):
        lines.append(f"Start Time:\t{d._timestamp(status['startTime'])}")
    if status.get("completionTime"):
        lines.append(f"Completed At:\t{d._timestamp(status['completionTime'])}")
        start = times.parse_time(status.get("startTime"))
        end = times.parse_time(status["completionTime"])
        if start and end:
            lines.append(f"Duration:\t{times.human_duration(end - start)}")
    if spec.get("activeDeadlineSeconds") is not None:
        lines.append(f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s")
    lines.append(
        f"Pods Statuses:\t{status.get('active', 0)} Active ({status.get('ready', 0)} Ready) / "
        f"{status.get('succeeded', 0)} Succeeded / {status.get('failed', 0)} Failed"
    )
    if status.get("completedIndexes") or spec.get("completionMode") == "Indexed":
        lines.append(f"Completed Indexes:\t{status.get('completedIndexes') or d.NONE}")
    lines += d._template_lines(spec.get("template") or {})
    return lines


def describe_cronjob(cronjob: Object, extras: Object) -> list[str]:
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    meta = objmeta.meta(cronjob)
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    lines += d._map_lines("Labels", meta.get("labels"))
    lines += d._map_lines("Annotations", meta.get("annotations"))
    lines.append(f"Schedule:\t{spec.get('schedule', '')}")
    if spec.get("timeZone"):
        lines.append(f"Time Zone:\t{spec['timeZone']}")
    lines.append(f"Concurrency Policy:\t{spec.get('concurrencyPolicy', 'Allow')}")
    lines.append(f"Suspend:\t{bool(spec.get('suspend'))}")
    lines.append(f"Successful Job History Limit:\t{_unset(spec.get('successfulJobsHistoryLimit'))}")
    lines.append(f"Failed Job History Limit:\t{_unset(spec.get('failedJobsHistoryLimit'))}")
    lines.append(f"Starting Deadline Seconds:\t{_unset(spec.get('startingDeadlineSeconds'))}")
    lines.append(f"Selector:\t{_unset(job_spec.get('selector'))}")
    lines.append(f"Parallelism:\t{_unset(job_spec.get('parallelism'))}")
    lines.append(f"Completions:\t{_unset(job_spec.get('completions'))}")
    lines += d._template_lines(job_spec.get("template") or {})
    lines.append(f"Last Schedule Time:\t{d._timestamp(status.get('lastScheduleTime'))}")
    active = [str(r.get("name")) for r in status.get("active") or []]
    lines.append(f"Active Jobs:\t{', '.join(active) or d.NONE}")
    return lines


def describe_pdb(pdb: Object, extras: Object) -> list[str]:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    meta = objmeta.meta(pdb)
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    if spec.get("minAvailable") is not None:
        lines.append(f"Min available:\t{spec['minAvailable']}")
    if spec.get("maxUnavailable") is not None:
        lines.append(f"Max unavailable:\t{spec['maxUnavailable']}")
    lines.append(f"Selector:\t{d._selector(pdb)}")
    lines += [
        "Status:",
        f"    Allowed disruptions:\t{status.get('disruptionsAllowed', 0)}",
        f"    Current:\t{status.get('currentHealthy', 0)}",
        f"    Desired:\t{status.get('desiredHealthy', 0)}",
        f"    Total:\t{status.get('expectedPods', 0)}",
    ]
    return lines


DESCRIBERS: dict[ResourceType, Callable[[Object, Object], list[str]]] = {
    resources.JOBS: describe_job,
    resources.CRONJOBS: describe_cronjob,
    resources.PODDISRUPTIONBUDGETS: describe_pdb,
    resources.REPLICATIONCONTROLLERS: d.describe_replicaset,
}
