"""Discovery documents: `/version`, `/api`, `/apis`, `/apis/<group>`, per-group-version
resource lists, and the aggregated (`apidiscovery.k8s.io/v2`) form of `/api` and `/apis`.

Pure builders over the resource registry; the apiserver routes serve them as JSON.

kubectl 1.32 asks `/api` and `/apis` with
`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`
and decides by the response Content-Type: the aggregated media type means "everything is in
this one document"; plain `application/json` means legacy discovery (APIVersions /
APIGroupList, then one APIResourceList request per group version).
"""

from __future__ import annotations

import base64
import hashlib
import platform
import sys
from dataclasses import dataclass
from typing import Any

import minik8s
from minik8s.api import resources

KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "32"

AGGREGATED_DISCOVERY_CONTENT_TYPE = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)
"""Content-Type to answer `/api` and `/apis` with when `wants_aggregated_discovery()`."""


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"group": self.group, "version": self.version, "kind": self.kind}


_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    "ephemeralcontainers": ("get", "patch", "update"),
    "finalize": ("update",),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "eviction": ("create",),
    "token": ("create",),
    "approval": ("get", "patch", "update"),
}

SCALE_KIND = GroupVersionKind("autoscaling", "v1", "Scale")
BINDING_KIND = GroupVersionKind("", "v1", "Binding")
POD_EXEC_OPTIONS_KIND = GroupVersionKind("", "v1", "PodExecOptions")
POD_ATTACH_OPTIONS_KIND = GroupVersionKind("", "v1", "PodAttachOptions")
POD_PORT_FORWARD_OPTIONS_KIND = GroupVersionKind("", "v1", "PodPortForwardOptions")
NODE_PROXY_OPTIONS_KIND = GroupVersionKind("", "v1", "NodeProxyOptions")
EVICTION_KIND = GroupVersionKind("policy", "v1", "Eviction")
TOKEN_REQUEST_KIND = GroupVersionKind("authentication.k8s.io", "v1", "TokenRequest")


def subresource_verbs(subresource: str) -> tuple[str, ...]:
    return _SUBRESOURCE_VERBS[subresource]


def subresource_kind(rt: resources.ResourceType, subresource: str) -> GroupVersionKind:
    """The kind a subresource speaks: `scale` is autoscaling/v1 Scale for every parent,
    `binding` is core Binding, `exec`/`attach`/`portforward` are PodExecOptions,
    PodAttachOptions, PodPortForwardOptions, `eviction` is policy/v1 Eviction, the rest
    return the parent kind."""
    if subresource == "scale":
        return SCALE_KIND
    if subresource == "binding":
        return BINDING_KIND
    if subresource == "exec":
        return POD_EXEC_OPTIONS_KIND
    if subresource == "attach":
        return POD_ATTACH_OPTIONS_KIND
    if subresource == "portforward":
        return POD_PORT_FORWARD_OPTIONS_KIND
    if subresource == "proxy":
        return NODE_PROXY_OPTIONS_KIND
    if subresource == "eviction":
        return EVICTION_KIND
    if subresource == "token":
        return TOKEN_REQUEST_KIND
    return GroupVersionKind(rt.group, rt.version, rt.kind)


def resource_kind(rt: resources.ResourceType) -> GroupVersionKind:
    return GroupVersionKind(rt.group, rt.version, rt.kind)


def storage_version_hash(rt: resources.ResourceType) -> str:
    """An opaque, stable token naming the storage version of a resource."""
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _served_types(group: str, version: str) -> list[resources.ResourceType]:
    return [r for r in resources.RESOURCES if r.group == group and r.version == version]


def _named_group_versions() -> list[tuple[str, str]]:
    return [(g, v) for g, v in resources.group_versions() if g]


# --- /version -----------------------------------------------------------------------


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{sys.platform}/{arch}"


def version_info() -> dict[str, str]:
    """`GET /version`. kubectl (and its version dispatcher) reads `minor`."""
    python = ".".join(str(p) for p in sys.version_info[:3])
    return {
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0-minik8s.{minik8s.__version__}",
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{python}",
        "compiler": sys.implementation.name,
        "platform": _platform(),
    }


# --- legacy (unaggregated) discovery --------------------------------------------------


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api`: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_version_for_discovery(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _api_group_entry(group: str) -> dict[str, Any]:
    versions = [
        _group_version_for_discovery(g, v) for g, v in _named_group_versions() if g == group
    ]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`GET /apis`: every named group we serve, then `extra` (the available groups of the
    aggregation layer, as APIGroup entries)."""
    groups: list[str] = []
    for group, _ in _named_group_versions():
        if group not in groups:
            groups.append(group)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group_entry(g) for g in groups] + list(extra or []),
    }


def api_group(group: str) -> dict[str, Any] | None:
    """`GET /apis/<group>`, or None when the group is not served."""
    if not any(g == group for g, _ in _named_group_versions()):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group_entry(group)}


def _resource_row(rt: resources.ResourceType) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        row["shortNames"] = list(rt.short_names)
    if rt.categories:
        row["categories"] = list(rt.categories)
    row["storageVersionHash"] = storage_version_hash(rt)
    return row


def _subresource_row(rt: resources.ResourceType, subresource: str) -> dict[str, Any]:
    gvk = subresource_kind(rt, subresource)
    row: dict[str, Any] = {
        "name": f"{rt.plural}/{subresource}",
        "singularName": "",
        "namespaced": rt.namespaced,
    }
    # group/version appear only when they differ from the list's group version.
    if (gvk.group, gvk.version) != (rt.group, rt.version):
        row["group"] = gvk.group
        row["version"] = gvk.version
    row["kind"] = gvk.kind
    row["verbs"] = list(subresource_verbs(subresource))
    return row


_BINDINGS_ROW: dict[str, Any] = {
    "name": "bindings",
    "singularName": "binding",
    "namespaced": True,
    "kind": "Binding",
    "verbs": ["create"],
}
"""Core v1 also serves `POST /api/v1/namespaces/<ns>/bindings` (the pre-subresource form)."""


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """`GET /api/v1` or `GET /apis/<group>/<version>`, or None when not served."""
    types = _served_types(group, version)
    if not types:
        return None
    rows: list[dict[str, Any]] = []
    for rt in types:
        rows.append(_resource_row(rt))
        rows.extend(_subresource_row(rt, sub) for sub in rt.subresources)
    if group == "" and version == "v1":
        rows.append(dict(_BINDINGS_ROW))
    rows.sort(key=lambda row: row["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": rows,
    }


# --- aggregated discovery (apidiscovery.k8s.io/v2) -------------------------------------


def wants_aggregated_discovery(accept: str | None) -> bool:
    """True when an Accept header lists the v2 aggregated discovery media type."""
    if not accept:
        return False
    for media_range in accept.split(","):
        kind, *raw_params = (part.strip() for part in media_range.split(";"))
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        if (
            kind.lower() == "application/json"
            and params.get("g") == "apidiscovery.k8s.io"
            and params.get("v") == "v2"
            and params.get("as") == "APIGroupDiscoveryList"
        ):
            return True
    return False


def _scope(namespaced: bool) -> str:
    return "Namespaced" if namespaced else "Cluster"


def _aggregated_resource(rt: resources.ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": resource_kind(rt).as_dict(),
        "scope": _scope(rt.namespaced),
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {
                "subresource": sub,
                "responseKind": subresource_kind(rt, sub).as_dict(),
                "verbs": list(subresource_verbs(sub)),
            }
            for sub in rt.subresources
        ]
    return entry


def _aggregated_version(group: str, version: str) -> dict[str, Any]:
    entries = [_aggregated_resource(rt) for rt in _served_types(group, version)]
    if group == "" and version == "v1":
        entries.append(
            {
                "resource": "bindings",
                "responseKind": BINDING_KIND.as_dict(),
                "scope": "Namespaced",
                "singularResource": "binding",
                "verbs": ["create"],
            }
        )
    entries.sort(key=lambda entry: entry["resource"])
    return {"version": version, "resources": entries, "freshness": "Current"}


def aggregated_discovery(
    legacy_core: bool, extra: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`GET /api` (legacy_core=True: the core group only) or `GET /apis` (the named groups,
    then `extra`: the aggregation layer's available groups) as an `apidiscovery.k8s.io/v2`
    APIGroupDiscoveryList."""
    items: list[dict[str, Any]]
    if legacy_core:
        items = [{"metadata": {}, "versions": [_aggregated_version("", "v1")]}]
    else:
        by_group: dict[str, list[str]] = {}
        for group, version in _named_group_versions():
            by_group.setdefault(group, []).append(version)
        items = [
            {
                "metadata": {"name": group},
                "versions": [_aggregated_version(group, v) for v in versions],
            }
            for group, versions in by_group.items()
        ] + list(extra or [])
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
