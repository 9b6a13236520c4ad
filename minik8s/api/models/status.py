"""meta/v1 shapes of requests and answers that are not stored kinds: Status, DeleteOptions.

They describe the wire format in the OpenAPI documents; the apiserver builds and reads these
objects as dicts (`minik8s.api.errors`, the DELETE handler).
"""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import ListMeta


class StatusCause(ApiModel):
    """One reason an operation failed, often tied to one field of the object."""

    reason: str | None = None
    """A machine-readable reason, such as FieldValueInvalid or FieldValueRequired."""
    message: str | None = None
    """What went wrong, for people."""
    field: str | None = None
    """The field the cause is about, as a path (`spec.containers[0].image`)."""


class StatusDetails(ApiModel):
    """More about a Status: which object it is about and the causes of a failure."""

    name: str | None = None
    """The name of the object the Status is about, when there is one."""
    group: str | None = None
    """The API group of that object's resource."""
    kind: str | None = None
    """The kind (or resource) of that object."""
    uid: str | None = None
    """The uid of that object, when known."""
    causes: list[StatusCause] | None = None
    """Field-level reasons of the failure."""
    retry_after_seconds: int | None = None
    """Seconds a client should wait before it retries the request."""


class Status(ApiModel):
    """The answer to a request that returns no object, and the body of every error."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ListMeta | None = None
    status: str | None = None
    """Success or Failure."""
    message: str | None = None
    """What happened, for people."""
    reason: str | None = None
    """A machine-readable reason (NotFound, AlreadyExists, Conflict, Invalid...)."""
    details: StatusDetails | None = None
    """Which object the Status is about, and the causes of a failure."""
    code: int | None = None
    """The HTTP status code of the answer."""


class Preconditions(ApiModel):
    """What must hold for a delete to go ahead."""

    uid: str | None = None
    """The object's uid must be this one."""
    resource_version: str | None = None
    """The object's resourceVersion must be this one."""


class DeleteOptions(ApiModel):
    """The optional body of a DELETE."""

    api_version: str | None = None
    kind: str | None = None
    grace_period_seconds: int | None = None
    """Seconds before the object is deleted (pods: the time their containers get to stop)."""
    preconditions: Preconditions | None = None
    """The uid and resourceVersion the object must have."""
    orphan_dependents: bool | None = None
    """Deprecated: use propagationPolicy Orphan."""
    propagation_policy: str | None = None
    """Orphan, Background or Foreground: what the garbage collector does with dependents."""
    dry_run: list[str] | None = None
    """All: check the request without storing anything."""
