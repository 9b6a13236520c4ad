"""autoscaling/v2 HorizontalPodAutoscaler (the stored version) and its autoscaling/v1 form."""

from __future__ import annotations

from pydantic import Field

from minik8s.api.models.base import ApiModel, Quantity
from minik8s.api.models.meta import LabelSelector, TypedObject


class CrossVersionObjectReference(ApiModel):
    """The object an autoscaler scales: a kind with a `scale` subresource."""

    kind: str
    """Kind of the referent, such as Deployment."""
    name: str
    """Name of the referent, in the autoscaler's namespace."""
    api_version: str | None = None
    """API version of the referent, such as apps/v1."""


class MetricTarget(ApiModel):
    """The value a metric should have."""

    type: str
    """Utilization, Value or AverageValue."""
    value: Quantity | None = None
    """The target value of the metric (type Value)."""
    average_value: Quantity | None = None
    """The target value of the metric averaged over the pods (type AverageValue)."""
    average_utilization: int | None = None
    """The target of the pods' average usage as a percentage of their requests
    (type Utilization; Resource metrics only)."""


class MetricIdentifier(ApiModel):
    """A metric by name, with an optional label selector narrowing it."""

    name: str
    """The name of the metric."""
    selector: LabelSelector | None = None
    """Labels that select the metric's series."""


class ResourceMetricSource(ApiModel):
    """A resource (cpu, memory) of the pods the target selects, from the metrics API."""

    name: str
    """The resource: cpu or memory."""
    target: MetricTarget
    """The target value of the resource."""


class ContainerResourceMetricSource(ApiModel):
    """A resource of one container of each pod the target selects."""

    name: str
    """The resource: cpu or memory."""
    container: str
    """The container's name."""
    target: MetricTarget
    """The target value of the resource."""


class PodsMetricSource(ApiModel):
    """A custom metric of the pods (not served by minik8s: no custom metrics API)."""

    metric: MetricIdentifier
    target: MetricTarget


class ObjectMetricSource(ApiModel):
    """A custom metric of one object (not served by minik8s)."""

    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


class ExternalMetricSource(ApiModel):
    """A metric from outside the cluster (not served by minik8s)."""

    metric: MetricIdentifier
    target: MetricTarget


class MetricSpec(ApiModel):
    """One metric to scale on; `type` says which of the sources is set."""

    type: str
    """Resource, ContainerResource, Pods, Object or External."""
    resource: ResourceMetricSource | None = None
    """A resource metric (cpu, memory) of the target's pods."""
    container_resource: ContainerResourceMetricSource | None = None
    """A resource metric of one container of the target's pods."""
    pods: PodsMetricSource | None = None
    """A custom metric averaged over the target's pods."""
    object: ObjectMetricSource | None = None
    """A custom metric of one object."""
    external: ExternalMetricSource | None = None
    """A metric from outside the cluster."""


class HPAScalingPolicy(ApiModel):
    """At most this much change within one period."""

    type: str
    """Pods (a number of pods) or Percent (of the current replicas)."""
    value: int
    """How many pods, or what percentage."""
    period_seconds: int
    """The window the policy looks back over (1 to 1800 seconds)."""


class HPAScalingRules(ApiModel):
    """How fast the autoscaler scales in one direction."""

    stabilization_window_seconds: int | None = None
    """Recommendations of this many past seconds are considered: the most conservative wins
    (0 to 3600; scale-up defaults to 0, scale-down to the controller's 5 minutes)."""
    select_policy: str | None = None
    """Max (the policy allowing the most change), Min, or Disabled."""
    policies: list[HPAScalingPolicy] | None = None
    """Limits on the change of replicas; the selectPolicy picks one."""


class HorizontalPodAutoscalerBehavior(ApiModel):
    """Scaling rules for each direction."""

    scale_up: HPAScalingRules | None = None
    """Rules for scaling up (default: double or add 4 pods every 15 s, no stabilization)."""
    scale_down: HPAScalingRules | None = None
    """Rules for scaling down (default: down to the minimum every 15 s, after a 5 minute
    stabilization window)."""


class HorizontalPodAutoscalerSpec(ApiModel):
    """What to scale, between which bounds, on which metrics."""

    scale_target_ref: CrossVersionObjectReference
    """The object to scale (it must have a scale subresource)."""
    min_replicas: int | None = None
    """The lower bound of replicas (default 1)."""
    max_replicas: int
    """The upper bound of replicas; at least minReplicas."""
    metrics: list[MetricSpec] | None = None
    """The metrics to scale on; the largest recommendation wins (default: cpu at 80%)."""
    behavior: HorizontalPodAutoscalerBehavior | None = None
    """How fast to scale up and down."""


class MetricValueStatus(ApiModel):
    """The current value of a metric."""

    value: Quantity | None = None
    average_value: Quantity | None = None
    """The metric averaged over the pods."""
    average_utilization: int | None = None
    """The pods' average usage as a percentage of their requests."""


class ResourceMetricStatus(ApiModel):
    name: str
    current: MetricValueStatus


class ContainerResourceMetricStatus(ApiModel):
    name: str
    container: str
    current: MetricValueStatus


class MetricStatus(ApiModel):
    """The last read value of one metric."""

    type: str
    resource: ResourceMetricStatus | None = None
    container_resource: ContainerResourceMetricStatus | None = None


class HorizontalPodAutoscalerCondition(ApiModel):
    """AbleToScale, ScalingActive or ScalingLimited."""

    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(ApiModel):
    """What the autoscaler last saw and did."""

    observed_generation: int | None = None
    last_scale_time: str | None = None
    """When the autoscaler last changed the number of replicas."""
    current_replicas: int | None = None
    desired_replicas: int = 0
    current_metrics: list[MetricStatus] | None = None
    conditions: list[HorizontalPodAutoscalerCondition] | None = None


class HorizontalPodAutoscaler(TypedObject):
    """Scales a Deployment, ReplicaSet or StatefulSet on its pods' resource usage."""

    spec: HorizontalPodAutoscalerSpec
    status: HorizontalPodAutoscalerStatus | None = None


# --- autoscaling/v1 -------------------------------------------------------------------------


class HorizontalPodAutoscalerSpecV1(ApiModel):
    """autoscaling/v1: CPU utilization only."""

    scale_target_ref: CrossVersionObjectReference
    min_replicas: int | None = None
    max_replicas: int
    target_cpu_utilization_percentage: int | None = Field(
        default=None, alias="targetCPUUtilizationPercentage"
    )
    """The target average CPU usage of the pods, as a percentage of their requests."""


class HorizontalPodAutoscalerStatusV1(ApiModel):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: int = 0
    desired_replicas: int = 0
    current_cpu_utilization_percentage: int | None = Field(
        default=None, alias="currentCPUUtilizationPercentage"
    )


class HorizontalPodAutoscalerV1(TypedObject):
    """autoscaling/v1 HorizontalPodAutoscaler: the same objects as autoscaling/v2, CPU only."""

    spec: HorizontalPodAutoscalerSpecV1
    status: HorizontalPodAutoscalerStatusV1 | None = None
