"""batch/v1 kinds (Job, CronJob) and the legacy core/v1 ReplicationController."""

from __future__ import annotations

from minik8s.api.models.apps import ReplicaSetStatus
from minik8s.api.models.base import ApiModel
from minik8s.api.models.core import PodTemplateSpec
from minik8s.api.models.meta import (
    Condition,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
    TypedObject,
)

# --- Job ------------------------------------------------------------------------------------


class PodFailurePolicyOnExitCodesRequirement(ApiModel):
    container_name: str | None = None
    operator: str
    values: list[int]


class PodFailurePolicyOnPodConditionsPattern(ApiModel):
    type: str
    status: str | None = None


class PodFailurePolicyRule(ApiModel):
    action: str
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None


class PodFailurePolicy(ApiModel):
    rules: list[PodFailurePolicyRule]


class SuccessPolicyRule(ApiModel):
    succeeded_indexes: str | None = None
    succeeded_count: int | None = None


class SuccessPolicy(ApiModel):
    rules: list[SuccessPolicyRule]


class JobSpec(ApiModel):
    parallelism: int | None = None
    completions: int | None = None
    active_deadline_seconds: int | None = None
    pod_failure_policy: PodFailurePolicy | None = None
    success_policy: SuccessPolicy | None = None
    backoff_limit: int | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec | None = None
    ttl_seconds_after_finished: int | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    pod_replacement_policy: str | None = None
    managed_by: str | None = None


class UncountedTerminatedPods(ApiModel):
    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(ApiModel):
    conditions: list[Condition] | None = None
    start_time: str | None = None
    completion_time: str | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    completed_indexes: str | None = None
    failed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None
    ready: int | None = None


class Job(TypedObject):
    spec: JobSpec | None = None
    status: JobStatus | None = None


# --- CronJob --------------------------------------------------------------------------------


class JobTemplateSpec(ApiModel):
    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None


class CronJobSpec(ApiModel):
    schedule: str | None = None
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str | None = None
    suspend: bool | None = None
    job_template: JobTemplateSpec | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None


class CronJobStatus(ApiModel):
    active: list[ObjectReference] | None = None
    last_schedule_time: str | None = None
    last_successful_time: str | None = None


class CronJob(TypedObject):
    spec: CronJobSpec | None = None
    status: CronJobStatus | None = None


# --- ReplicationController (core/v1) ---------------------------------------------------------


class ReplicationControllerSpec(ApiModel):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: dict[str, str] | None = None
    template: PodTemplateSpec | None = None


class ReplicationController(TypedObject):
    spec: ReplicationControllerSpec | None = None
    status: ReplicaSetStatus | None = None
    """The same fields as a ReplicaSet's status."""
