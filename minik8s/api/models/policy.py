"""policy/v1 kinds: PodDisruptionBudget and Eviction (the body of `pods/<name>/eviction`)."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel, IntOrString
from minik8s.api.models.meta import Condition, LabelSelector, TypedObject


class PodDisruptionBudgetSpec(ApiModel):
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PodDisruptionBudgetStatus(ApiModel):
    observed_generation: int | None = None
    disrupted_pods: dict[str, str] | None = None
    disruptions_allowed: int | None = None
    current_healthy: int | None = None
    desired_healthy: int | None = None
    expected_pods: int | None = None
    conditions: list[Condition] | None = None


class PodDisruptionBudget(TypedObject):
    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None


class Preconditions(ApiModel):
    uid: str | None = None
    resource_version: str | None = None


class DeleteOptions(ApiModel):
    grace_period_seconds: int | None = None
    preconditions: Preconditions | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    dry_run: list[str] | None = None


class Eviction(TypedObject):
    delete_options: DeleteOptions | None = None
