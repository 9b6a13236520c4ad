"""events.k8s.io/v1 Event: the newer form of core/v1 Events, stored as them."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import ObjectReference, TypedObject


class EventSeries(ApiModel):
    """A repeated occurrence of one event."""

    count: int
    """How many times it happened."""
    last_observed_time: str
    """When it last happened (MicroTime)."""


class EventSource(ApiModel):
    component: str | None = None
    host: str | None = None


class Event(TypedObject):
    """Something that happened to an object, reported by a controller (for people and
    tools; not a source of truth)."""

    event_time: str | None = None
    """When the event first happened (MicroTime); required on create."""
    series: EventSeries | None = None
    """Set when the event repeats."""
    reporting_controller: str | None = None
    """The controller that reported it, such as kubernetes.io/kubelet."""
    reporting_instance: str | None = None
    """The instance of that controller, such as kubelet-node-1."""
    action: str | None = None
    """What was done (or failed), such as Binding or Pulling."""
    reason: str | None = None
    """Why, in CamelCase, such as Scheduled or BackOff."""
    regarding: ObjectReference | None = None
    """The object the event is about."""
    related: ObjectReference | None = None
    """A second object involved, if any."""
    note: str | None = None
    """What happened, for people (at most 1 kB)."""
    type: str | None = None
    """Normal or Warning."""
    deprecated_source: EventSource | None = None
    """core/v1's source, kept for compatibility."""
    deprecated_first_timestamp: str | None = None
    deprecated_last_timestamp: str | None = None
    deprecated_count: int | None = None
