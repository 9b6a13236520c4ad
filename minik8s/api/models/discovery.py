"""discovery.k8s.io/v1 EndpointSlice: a Service's endpoints, in slices of up to 100."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import ObjectReference, TypedObject


class EndpointConditions(ApiModel):
    ready: bool | None = None
    """The endpoint takes new traffic (a ready pod, not terminating)."""
    serving: bool | None = None
    """The endpoint is ready, whether or not it is terminating."""
    terminating: bool | None = None


class ForZone(ApiModel):
    name: str


class EndpointHints(ApiModel):
    for_zones: list[ForZone] | None = None


class Endpoint(ApiModel):
    addresses: list[str]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    deprecated_topology: dict[str, str] | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class EndpointPort(ApiModel):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


class EndpointSlice(TypedObject):
    address_type: str
    """IPv4, IPv6 or FQDN; immutable."""
    endpoints: list[Endpoint]
    ports: list[EndpointPort] | None = None
