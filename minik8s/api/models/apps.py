"""apps/v1 kinds (ReplicaSet, Deployment, DaemonSet, StatefulSet, ControllerRevision) and
autoscaling/v1 Scale."""

from __future__ import annotations

from typing import Any

from minik8s.api.models.base import ApiModel, IntOrString
from minik8s.api.models.core import PodTemplateSpec
from minik8s.api.models.meta import Condition, LabelSelector, TypedObject
from minik8s.api.models.storage import PersistentVolumeClaimTemplate


class ReplicaSetSpec(ApiModel):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None


class ReplicaSetStatus(ApiModel):
    replicas: int | None = None
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ReplicaSet(TypedObject):
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class RollingUpdateDeployment(ApiModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(ApiModel):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(ApiModel):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    strategy: DeploymentStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    paused: bool | None = None
    progress_deadline_seconds: int | None = None


class DeploymentStatus(ApiModel):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[Condition] | None = None
    collision_count: int | None = None


class Deployment(TypedObject):
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class ScaleSpec(ApiModel):
    replicas: int | None = None


class ScaleStatus(ApiModel):
    replicas: int = 0
    selector: str | None = None
    """The label selector of the scaled pods, in its string form (`app=web,tier in (a,b)`)."""


class Scale(TypedObject):
    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None


# --- DaemonSet ---------------------------------------------------------------------------


class RollingUpdateDaemonSet(ApiModel):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(ApiModel):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(ApiModel):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


class DaemonSetStatus(ApiModel):
    current_number_scheduled: int | None = None
    number_misscheduled: int | None = None
    desired_number_scheduled: int | None = None
    number_ready: int | None = None
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[Condition] | None = None


class DaemonSet(TypedObject):
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


# --- StatefulSet -------------------------------------------------------------------------


class RollingUpdateStatefulSetStrategy(ApiModel):
    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(ApiModel):
    type: str | None = None
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(ApiModel):
    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(ApiModel):
    start: int | None = None


class StatefulSetSpec(ApiModel):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    volume_claim_templates: list[PersistentVolumeClaimTemplate] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    persistent_volume_claim_retention_policy: (
        StatefulSetPersistentVolumeClaimRetentionPolicy | None
    ) = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetStatus(ApiModel):
    observed_generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    available_replicas: int | None = None
    conditions: list[Condition] | None = None


class StatefulSet(TypedObject):
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class ControllerRevision(TypedObject):
    data: dict[str, Any] | None = None
    """The state of the owner at this revision (for DaemonSets and StatefulSets: a strategic
    merge patch that restores `spec.template`)."""
    revision: int
