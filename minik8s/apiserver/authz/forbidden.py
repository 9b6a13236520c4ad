"""The 403 of a denied request, worded as Kubernetes words it.

`responsewriters.forbiddenMessage` and `apierrors.NewForbidden`:

    pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the
      namespace "dev"
    nodes "node-2" is forbidden: User "system:node:node-1" cannot get resource "nodes" in API
      group "" at the cluster scope: node 'node-1' cannot read 'node-2', only its own Node object
    forbidden: User "system:anonymous" cannot get path "/metrics"
"""

from __future__ import annotations

from minik8s.api import errors
from minik8s.api.rbac import go_quote
from minik8s.apiserver.requestinfo import Attributes


def message(attrs: Attributes) -> str:
    user = go_quote(attrs.user.name)
    if not attrs.resource_request:
        return f"User {user} cannot {attrs.verb} path {go_quote(attrs.path)}"
    resource = attrs.resource
    if attrs.subresource:
        resource = f"{resource}/{attrs.subresource}"
    where = (
        f"in the namespace {go_quote(attrs.namespace)}"
        if attrs.namespace
        else "at the cluster scope"
    )
    return (
        f"User {user} cannot {attrs.verb} resource {go_quote(resource)} "
        f"in API group {go_quote(attrs.api_group)} {where}"
    )


def forbidden(attrs: Attributes, reason: str = "") -> errors.Forbidden:
    text = message(attrs)
    if reason:
        text = f"{text}: {reason}"
    return new_forbidden(attrs.resource, attrs.api_group, attrs.name, text)


def new_forbidden(resource: str, group: str, name: str, detail: str) -> errors.Forbidden:
    """apierrors.NewForbidden: `<resource[.group]> ["name"] is forbidden: <detail>`."""
    if not resource:
        return errors.Forbidden(f"forbidden: {detail}")
    qualified = f"{resource}.{group}" if group else resource
    subject = f"{qualified} {go_quote(name)}" if name else qualified
    return errors.Forbidden(
        f"{subject} is forbidden: {detail}", kind=resource, name=name or None, group=group
    )
