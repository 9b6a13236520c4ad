"""Parse a REST path into what it addresses (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from minik8s.api import resources
from minik8s.api.resources import ResourceType


@dataclass(frozen=True)
class ResourcePath:
    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    path: str = ""
    """What follows `<name>/proxy` (`nodes/<name>/proxy/<path>`), with its leading slash."""

    @property
    def is_collection(self) -> bool:
        return self.name is None


@dataclass(frozen=True)
class GroupVersionPath:
    """`/api/v1` or `/apis/{group}/{version}`: the group version's resource list."""

    group: str
    version: str


@dataclass(frozen=True)
class GroupPath:
    """`/apis/{group}`: the group's versions."""

    group: str


@dataclass(frozen=True)
class UnknownPath:
    message: str


@dataclass(frozen=True)
class UnsupportedPath:
    """A Kubernetes path minik8s knows and does not serve: a 501 with a message, not a 404."""

    message: str


UNSUPPORTED_POD_SUBRESOURCES = {
    "proxy": "proxying HTTP to a pod",
}


Parsed = ResourcePath | GroupVersionPath | GroupPath | UnknownPath | UnsupportedPath


def parse(path: str) -> Parsed | None:
    """None for paths outside /api and /apis group versions (e.g. `/api`, `/apis`)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "apis":
        return GroupPath(parts[1])
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return GroupVersionPath(group, version)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns_resource = resources.lookup(group, version, rest[2])
        if ns_resource is not None or rest[2] not in resources.NAMESPACES.subresources:
            namespace, rest = rest[1], rest[2:]
    resource = resources.lookup(group, version, rest[0])
    if resource is None:
        if group == "" and rest[0] == "bindings" and namespace is not None and len(rest) == 1:
            return ResourcePath(resources.PODS, namespace, None, "binding")
        return UnknownPath("the server could not find the requested resource")
    if namespace is not None and not resource.namespaced:
        return UnknownPath("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if resource is resources.PODS and subresource in UNSUPPORTED_POD_SUBRESOURCES:
        what = UNSUPPORTED_POD_SUBRESOURCES[subresource]
        return UnsupportedPath(f"pods/{subresource} is not supported by minik8s: {what}")
    proxied = ""
    if subresource == "proxy" and len(rest) > 3:
        proxied, rest = "/" + "/".join(rest[3:]), rest[:3]
        if path.endswith("/"):
            proxied += "/"
    if len(rest) > 3 or (subresource and subresource not in resource.subresources):
        return UnknownPath("the server could not find the requested resource")
    if resource.namespaced and name is not None and namespace is None:
        return UnknownPath("the server could not find the requested resource")
    return ResourcePath(resource, namespace, name, subresource, proxied)
