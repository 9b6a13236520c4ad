"""coordination.k8s.io/v1 Lease: leader election and node heartbeats."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import TypedObject


class LeaseSpec(ApiModel):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    """A MicroTime: RFC 3339 with microseconds, e.g. `2024-05-01T10:00:00.000000Z`."""
    renew_time: str | None = None
    lease_transitions: int | None = None


class Lease(TypedObject):
    spec: LeaseSpec | None = None
