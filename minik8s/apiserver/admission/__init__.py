"""Validating admission: checks that need the object and the user, after validation.

The registry calls `Admission.validate` on create, update (incl. status) and delete of the
resources a plugin names, with the request's user (`requestcontext`). A plugin raises a 403
`Forbidden` (or any ApiError) to refuse. Plugins:

    noderestriction.py  NodeRestriction: a kubelet writes only its own Node, Lease, mirror
                        pods and the status of pods bound to it (`--enable-admission-plugins`)
    rbacescalation.py   RBAC's escalation prevention (always on with RBAC): a role or binding
                        may only grant what its author holds, unless `escalate` / `bind`
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.apiserver import requestcontext
from minik8s.apiserver.authn.user import UserInfo

CREATE, UPDATE, DELETE = "CREATE", "UPDATE", "DELETE"


@dataclass(frozen=True)
class Request:
    """What a plugin is asked about (Kubernetes' `admission.Attributes`)."""

    operation: str
    """CREATE, UPDATE or DELETE."""
    resource: ResourceType
    subresource: str | None
    obj: Object
    """The object as it would be stored (on DELETE: as it is stored)."""
    old: Object | None
    """The stored object an UPDATE replaces."""
    user: UserInfo


class Plugin(Protocol):
    resources: frozenset[str]
    """Plurals of the resources it checks; others never reach it."""

    def validate(self, request: Request) -> None: ...


class Admission:
    """The enabled plugins, asked in order."""

    def __init__(self, plugins: Sequence[Plugin] = ()) -> None:
        self.plugins = tuple(plugins)
        self.resources = frozenset().union(*(p.resources for p in self.plugins))

    def validate(
        self,
        operation: str,
        resource: ResourceType,
        subresource: str | None,
        obj: Object,
        old: Object | None = None,
    ) -> None:
        if resource.plural not in self.resources:
            return
        request = Request(operation, resource, subresource, obj, old, requestcontext.current_user())
        for plugin in self.plugins:
            if resource.plural in plugin.resources:
                plugin.validate(request)
