"""The registry's side of field management: which schema, view and identity a write of a
resource (or subresource) has, and the calls into `minik8s.api.fieldmanager`."""

from __future__ import annotations

from typing import Any

from minik8s.api.fieldmanager import manager, schema
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType

TRACKED_SUBRESOURCES = (None, "status", "scale")
"""Writes that record managed fields (a binding or a namespace's finalize does not, as in
Kubernetes)."""


def _schema(resource: ResourceType) -> schema.Schema:
    return schema.for_kind(resource.group, resource.version, resource.kind)


def _view(resource: ResourceType, subresource: str | None) -> manager.View:
    return manager.view_for(subresource, "status" in resource.subresources)


def track(
    resource: ResourceType,
    old: Object | None,
    new: Object,
    field_manager: str,
    subresource: str | None = None,
    sent: Any = None,
) -> None:
    """Set `new`'s managedFields after a create (old None) or update by `field_manager`."""
    if subresource not in TRACKED_SUBRESOURCES:
        return
    who = manager.Identity(field_manager, manager.UPDATE, resource.api_version, subresource or "")
    fields = manager.update(
        old, new, _schema(resource), who, _view(resource, subresource), sent=sent
    )
    _set(new, fields)


def apply(
    resource: ResourceType,
    live: Object | None,
    config: Any,
    field_manager: str,
    force: bool,
    subresource: str | None = None,
) -> Object:
    """Server-side apply; the merged object carries its new managedFields."""
    who = manager.Identity(field_manager, manager.APPLY, resource.api_version, subresource or "")
    applied = manager.apply(
        live, config, _schema(resource), who, _view(resource, subresource), force
    )
    return applied.obj


def _set(obj: Object, fields: list[Object]) -> None:
    metadata = obj.setdefault("metadata", {})
    if fields:
        metadata["managedFields"] = fields
    else:
        metadata.pop("managedFields", None)
