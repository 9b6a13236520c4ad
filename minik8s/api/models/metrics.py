"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics: resource usage read from the kubelets,
served by the metrics server through the aggregation layer (never stored)."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel, Quantity
from minik8s.api.models.meta import TypedObject


class ContainerMetrics(ApiModel):
    name: str
    """The container's name in its pod."""
    usage: dict[str, Quantity]
    """Resource usage: cpu (cores, such as 12m) and memory (bytes, such as 25Mi)."""


class NodeMetrics(TypedObject):
    """The resource usage of one node."""

    timestamp: str
    """When the usage was sampled (the end of the window)."""
    window: str
    """The time the usage was averaged over, such as 15s."""
    usage: dict[str, Quantity]
    """Resource usage: cpu and memory."""


class PodMetrics(TypedObject):
    """The resource usage of one pod's containers."""

    timestamp: str
    window: str
    containers: list[ContainerMetrics]
    """Usage per container."""
