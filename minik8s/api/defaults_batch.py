"""Defaulting of Jobs, CronJobs and ReplicationControllers (Kubernetes' SetDefaults_* of
batch/v1 and core/v1), and the selector the apiserver generates for a new Job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import defaults
from minik8s.api.meta import Object

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
DEFAULT_BACKOFF_LIMIT = 6
MAX_INT32 = 2**31 - 1


def default_job(job: Object) -> None:
    spec = _dict(job, "spec")
    if spec is None:
        return
    default_job_spec(spec)
    template_labels = _template_labels(spec)
    metadata = _dict(job, "metadata")
    if metadata is not None and template_labels and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)
    if metadata is not None and metadata.get("uid") and not spec.get("manualSelector"):
        generate_selector(spec, str(metadata.get("name") or ""), str(metadata["uid"]))


def default_job_spec(spec: Object) -> None:
    """SetDefaults_Job on the spec (also what a CronJob's job inherits when it is created)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        per_index = spec.get("backoffLimitPerIndex") is not None
        spec["backoffLimit"] = MAX_INT32 if per_index else DEFAULT_BACKOFF_LIMIT
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in policy.get("rules") or []:
            for pattern in (rule or {}).get("onPodConditions") or []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    replacement = "Failed" if isinstance(policy, dict) else "TerminatingOrFailed"
    _default(spec, "podReplacementPolicy", replacement)
    _default_template(spec)


def generate_selector(spec: Object, name: str, uid: str) -> None:
    """The selector Kubernetes generates for a Job without `manualSelector`: its uid, and the
    job-name/controller-uid labels (new and legacy) on the pod template."""
    template = _dict(spec, "template")
    if template is None:
        return
    template_meta = _dict(template, "metadata")
    if template_meta is None:
        return
    labels = _dict(template_meta, "labels")
    if labels is None:
        return
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    selector = _dict(spec, "selector")
    if selector is None:
        return
    match_labels = _dict(selector, "matchLabels")
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def default_cronjob(cronjob: Object) -> None:
    spec = _dict(cronjob, "spec")
    if spec is None:
        return
    _default(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        _default_template(job_template["spec"])


def default_replication_controller(rc: Object) -> None:
    spec = _dict(rc, "spec")
    if spec is None:
        return
    labels = _template_labels(spec)
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = _dict(rc, "metadata")
        if metadata is not None and not metadata.get("labels"):
            metadata["labels"] = dict(labels)
    _default(spec, "replicas", 1)
    _default_template(spec)


def _template_labels(spec: Object) -> dict[str, Any]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return {}
    labels = (template.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _default_template(spec: Object) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        defaults.default_pod_spec(template["spec"])


def _default(obj: Object, field: str, value: Any) -> None:
    if obj.get(field) is None:
        obj[field] = value


def _dict(parent: Object, field: str) -> Object | None:
    if parent.get(field) is None:
        parent[field] = {}
    value = parent[field]
    return value if isinstance(value, dict) else None


DEFAULTERS: dict[str, Callable[[Object], None]] = {
    "Job": default_job,
    "CronJob": default_cronjob,
    "ReplicationController": default_replication_controller,
}
