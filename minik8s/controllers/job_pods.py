"""What a Job's pods say, pure: the tracking finalizer, completion indexes (and their
`completedIndexes` text form), the pod failure policy, the pod-failure backoff, and the pods
a Job creates (Kubernetes' pkg/controller/job helpers)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil, times
from minik8s.api.meta import Object
from minik8s.api.resources import JOBS

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
"""Annotation and label of an Indexed Job's pods: the index the pod works on."""
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
POD_FAILURE_BACKOFF = 10.0
"""Seconds before the first replacement of a failed pod; doubles with each failure."""
MAX_POD_FAILURE_BACKOFF = 360.0
"""The cap of that backoff (six minutes, as Kubernetes' documentation gives it)."""
MAX_UNCOUNTED_PODS = 500
"""At most this many uids in `uncountedTerminatedPods` (keeps the status small)."""
MAX_PODS_PER_SYNC = 500
"""At most this many pod creates or deletes in one sync."""

COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
POD_FAILURE_POLICY = "PodFailurePolicy"


# --- small readers ---------------------------------------------------------------------------


def spec_of(job: Object) -> dict[str, Any]:
    return job.get("spec") or {}


def is_indexed(job: Object) -> bool:
    return spec_of(job).get("completionMode") == "Indexed"


def is_finished(job: Object) -> bool:
    """Complete or Failed (True): nothing more to do but clean up."""
    return meta.condition_is_true(job, COMPLETE) or meta.condition_is_true(job, FAILED)


def finished_time(job: Object) -> datetime | None:
    """When the Job finished (its terminal condition's lastTransitionTime)."""
    for type_ in (COMPLETE, FAILED):
        condition = meta.get_condition(job, type_)
        if condition is not None and condition.get("status") == "True":
            return times.parse_time(condition.get("lastTransitionTime"))
    return None


def has_finalizer(pod: Object) -> bool:
    return TRACKING_FINALIZER in meta.finalizers_of(pod)


def completion_index(pod: Object) -> int | None:
    text = meta.annotations_of(pod).get(COMPLETION_INDEX)
    if text is None or not text.isdigit():
        return None
    return int(text)


def only_replace_failed(job: Object) -> bool:
    """podReplacementPolicy Failed: a terminating pod is replaced only once it has failed."""
    spec = spec_of(job)
    return spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None


def is_failed(job: Object, pod: Object) -> bool:
    """A failed pod, or (unless only failed pods are replaced) one deleted before success."""
    phase = podutil.pod_phase(pod)
    if phase == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return meta.is_deleting(pod) and phase != "Succeeded"


def is_terminating(pod: Object) -> bool:
    return meta.is_deleting(pod) and not podutil.is_terminal(pod)


# --- completed indexes -----------------------------------------------------------------------


def parse_indexes(text: str | None, limit: int) -> set[int]:
    """`"1,3-5,7"` as {1, 3, 4, 5, 7}, keeping indexes below `limit`."""
    result: set[int] = set()
    for part in (text or "").split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        low, high = int(first), int(last or first)
        result.update(range(low, min(high, limit - 1) + 1))
    return result


def format_indexes(indexes: set[int]) -> str:
    """Kubernetes' form: increasing, runs of three or more as `first-last`."""
    ordered = sorted(indexes)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(n) for n in ordered[i : j + 1])
        i = j + 1
    return ",".join(parts)


# --- pod failure policy ----------------------------------------------------------------------


def match_failure_policy(job: Object, pod: Object) -> tuple[str | None, bool, str | None]:
    """(FailJob message, whether the failure counts, the action) for a failed pod."""
    policy = spec_of(job).get("podFailurePolicy")
    if not isinstance(policy, dict):
        return None, True, None
    for i, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        on_codes = rule.get("onExitCodes")
        on_conditions = rule.get("onPodConditions")
        message: str | None = None
        if isinstance(on_codes, dict):
            container = _matching_exit_code(pod, on_codes)
            if container is None:
                continue
            code = container["state"]["terminated"].get("exitCode")
            message = (
                f"Container {container.get('name')} for pod {meta.ns_name(pod)} failed with "
                f"exit code {code} matching {action} rule at index {i}"
            )
        elif isinstance(on_conditions, list):
            condition = _matching_condition(pod, on_conditions)
            if condition is None:
                continue
            message = (
                f"Pod {meta.ns_name(pod)} has condition {condition} matching {action} rule at "
                f"index {i}"
            )
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action == "FailJob":
            return message, True, action
        return None, True, action
    return None, True, None


def _matching_exit_code(pod: Object, requirement: dict[str, Any]) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    wanted = set(requirement.get("values") or [])
    name = requirement.get("containerName")
    for container in [*(status.get("initContainerStatuses") or []),
                      *(status.get("containerStatuses") or [])]:  # fmt: skip
        terminated = (container.get("state") or {}).get("terminated")
        if not terminated or not terminated.get("exitCode"):
            continue  # exit code 0 never matches
        if name and container.get("name") != name:
            continue
        inside = terminated.get("exitCode") in wanted
        if inside == (requirement.get("operator") == "In"):
            return dict(container)
    return None


def _matching_condition(pod: Object, patterns: list[dict[str, Any]]) -> str | None:
    for pattern in patterns:
        condition = meta.get_condition(pod, str(pattern.get("type")))
        if condition is not None and condition.get("status") == (pattern.get("status") or "True"):
            return str(condition.get("type"))
    return None


# --- backoff ---------------------------------------------------------------------------------


@dataclass
class Backoff:
    """Failures since the last success, and when the last one happened (in memory, per Job)."""

    failures: int = 0
    last_failure: datetime | None = None

    def delay(self) -> float:
        if self.failures <= 0:
            return 0.0
        return min(POD_FAILURE_BACKOFF * 2 ** (self.failures - 1), MAX_POD_FAILURE_BACKOFF)

    def remaining(self, now: datetime) -> float:
        if self.last_failure is None or self.failures <= 0:
            return 0.0
        return max(0.0, self.delay() - (now - self.last_failure).total_seconds())

    def observe(self, succeeded: list[Object], failed: list[Object], now: datetime) -> Backoff:
        if succeeded:
            return Backoff() if not failed else Backoff(len(failed), _last_finish(failed, now))
        if not failed:
            return self
        last = _last_finish(failed, now)
        if self.last_failure is not None and self.last_failure > last:
            last = self.last_failure
        return Backoff(self.failures + len(failed), last)


def _last_finish(pods: list[Object], now: datetime) -> datetime:
    latest: datetime | None = None
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            finished = times.parse_time(((container.get("state") or {}).get("terminated")
                                         or {}).get("finishedAt"))  # fmt: skip
            if finished is not None and (latest is None or finished > latest):
                latest = finished
        deleted = meta.deletion_time(pod)
        if latest is None and deleted is not None:
            latest = deleted
    return min(latest, now) if latest is not None else now


def new_pod(job: Object, index: int | None = None) -> Object:
    """A pod of the Job's template, controlled by the Job and carrying the tracking finalizer."""
    template = copy.deepcopy(spec_of(job).get("template") or {})
    template_meta = template.get("metadata") or {}
    name = meta.name_of(job)
    labels = dict(template_meta.get("labels") or {})
    annotations = dict(template_meta.get("annotations") or {})
    pod_spec = template.get("spec") or {}
    generate_name = f"{name}-"
    if index is not None:
        labels[COMPLETION_INDEX] = str(index)
        annotations[COMPLETION_INDEX] = str(index)
        generate_name = f"{name}-{index}-"
        pod_spec.setdefault("hostname", f"{name}-{index}"[:63].rstrip("-"))
        for container in [
            *(pod_spec.get("initContainers") or []),
            *(pod_spec.get("containers") or []),
        ]:
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']",
                }}})  # fmt: skip
    metadata: dict[str, Any] = {
        "generateName": generate_name,
        "namespace": meta.namespace_of(job),
        "labels": labels,
        "finalizers": [*(template_meta.get("finalizers") or []), TRACKING_FINALIZER],
        "ownerReferences": [meta.owner_reference(JOBS, job)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
