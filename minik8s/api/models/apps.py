"""apps/v1 kinds (ReplicaSet, Deployment) and autoscaling/v1 Scale."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel, IntOrString
from minik8s.api.models.core import PodTemplateSpec
from minik8s.api.models.meta import Condition, LabelSelector, TypedObject


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
