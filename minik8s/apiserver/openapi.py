"""OpenAPI v3 documents: `/openapi/v3` (the index) and `/openapi/v3/api/v1`,
`/openapi/v3/apis/<group>/<version>`; `openapi_v2.py` derives `/openapi/v2` from them.

What kubectl 1.32 does with them:
- `apply`/`create` with the default `--validate=strict` looks, in the group version's
  document, for the PATCH operation tagged with the object's `x-kubernetes-group-version-kind`
  and a `fieldValidation` parameter on it (inline, not a `$ref`); when found it skips
  client-side schema validation and sends `?fieldValidation=Strict`.
- client-side `apply` computes its strategic merge patch from the component schema whose
  `x-kubernetes-group-version-kind` names the kind, following `x-kubernetes-patch-strategy`
  and `x-kubernetes-patch-merge-key` (they come from the rules the apiserver merges with, so
  both sides agree); a field the schema lacks makes it warn and fall back to its compiled-in
  types.
- `explain` renders the component schemas (fields, types, descriptions).

The component schemas are generated from minik8s's models (`minik8s.api.schema`).
"""

from __future__ import annotations

from typing import Any

from minik8s.api import resources
from minik8s.api.schema import graph as typegraph
from minik8s.apiserver import discovery, openapi_schemas

OPENAPI_VERSION = "3.0.0"
JSON = "application/json"
PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
"""Patch bodies the PATCH operations accept."""

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
PATCH_DESCRIPTION = (
    "The body of a PATCH: a JSON patch, a JSON merge patch, a strategic merge patch or an "
    "apply configuration, as the request's Content-Type says."
)
STATUS_SCHEMA = f"{_META}.Status"
PATCH_SCHEMA = f"{_META}.Patch"
DELETE_OPTIONS_SCHEMA = f"{_META}.DeleteOptions"
OBJECT_META_SCHEMA = f"{_META}.ObjectMeta"
LIST_META_SCHEMA = f"{_META}.ListMeta"


def schema_name(gvk: discovery.GroupVersionKind) -> str:
    """The component name of a kind: the graph's (`io.k8s.api.<group>.<version>.<Kind>`)."""
    named = typegraph.graph().roots.get((gvk.group, gvk.version, gvk.kind))
    return named or f"{typegraph.package_of(gvk.group, gvk.version)}.{gvk.kind}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": schema_type},
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string"},
    }


NAMESPACE_PARAM = _path_param("namespace", "object name and auth scope, such as for teams")
NAME_PARAM = _path_param("name", "name of the object")
PRETTY = _query("pretty", "If 'true', the output is pretty printed.")
DRY_RUN = _query("dryRun", "When present, modifications are not persisted (only 'All').")
FIELD_MANAGER = _query("fieldManager", "A name for the actor making the change.")
FIELD_VALIDATION = _query(
    "fieldValidation",
    "How to treat unknown or duplicate fields in the body: Ignore, Warn or Strict.",
)
WRITE_PARAMS = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
LIST_PARAMS = (
    _query("labelSelector", "Select objects by their labels."),
    _query("fieldSelector", "Select objects by their fields."),
    _query("resourceVersion", "Serve from this resource version or newer."),
    _query("resourceVersionMatch", "How resourceVersion applies to a list."),
    _query("limit", "Largest number of objects to return.", "integer"),
    _query("continue", "Token from a previous page of the same list."),
    _query("timeoutSeconds", "Time limit of a list or watch call.", "integer"),
    _query("watch", "Stream changes instead of returning a list.", "boolean"),
    _query("allowWatchBookmarks", "Ask for BOOKMARK watch events.", "boolean"),
)
DELETE_PARAMS = (
    DRY_RUN,
    _query("gracePeriodSeconds", "Seconds before the object is deleted.", "integer"),
    _query("propagationPolicy", "Orphan, Background or Foreground garbage collection."),
)


def _content(schema: dict[str, Any], *media_types: str) -> dict[str, Any]:
    return {media_type: {"schema": schema} for media_type in media_types or (JSON,)}


def _operation(
    action: str,
    operation_id: str,
    gvk: discovery.GroupVersionKind,
    response: str,
    *,
    params: tuple[dict[str, Any], ...] = (),
    body: str | None = None,
    body_types: tuple[str, ...] = (JSON,),
    created: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": _content(_ref(response))},
        "401": {"description": "Unauthorized"},
    }
    if created:
        responses["201"] = {"description": "Created", "content": _content(_ref(response))}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "description": f"{action} {gvk.kind}",
        "parameters": [PRETTY, *params],
        "responses": responses,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk.as_dict(),
    }
    if body is not None:
        operation["requestBody"] = {"content": _content(_ref(body), *body_types), "required": True}
    return operation


def _operation_id(verb: str, rt: resources.ResourceType, suffix: str = "") -> str:
    group = "".join(part.capitalize() for part in (rt.group or "core").split(".")[:1])
    scope = "Namespaced" if rt.namespaced else ""
    return f"{verb}{group}{rt.version.capitalize()}{scope}{rt.kind}{suffix}"


def _object_operations(
    rt: resources.ResourceType, gvk: discovery.GroupVersionKind, suffix: str = ""
) -> dict[str, Any]:
    """get/put/patch on an object or a status/scale subresource of it."""
    kind_schema = schema_name(gvk)
    return {
        "get": _operation("get", _operation_id("read", rt, suffix), gvk, kind_schema),
        "put": _operation(
            "put",
            _operation_id("replace", rt, suffix),
            gvk,
            kind_schema,
            params=WRITE_PARAMS,
            body=kind_schema,
            created=True,
        ),
        "patch": _operation(
            "patch",
            _operation_id("patch", rt, suffix),
            gvk,
            kind_schema,
            params=(*WRITE_PARAMS, _query("force", "Force an apply patch.", "boolean")),
            body=PATCH_SCHEMA,
            body_types=PATCH_CONTENT_TYPES,
        ),
    }


def _resource_paths(rt: resources.ResourceType) -> dict[str, Any]:
    gvk = discovery.resource_kind(rt)
    kind_schema, list_schema = schema_name(gvk), f"{schema_name(gvk)}List"
    scope_params = [NAMESPACE_PARAM] if rt.namespaced else []
    collection = rt.collection_path("{namespace}" if rt.namespaced else None)
    item = f"{collection}/{{name}}"
    create = _operation(
        "post",
        _operation_id("create", rt),
        gvk,
        kind_schema,
        params=WRITE_PARAMS,
        body=kind_schema,
        created=True,
    )
    if rt.verbs == ("create",):  # the reviews: POST only, answered and never stored
        return {collection: {"post": create, "parameters": scope_params}}

    paths: dict[str, Any] = {
        collection: {
            "get": _operation(
                "list", _operation_id("list", rt), gvk, list_schema, params=LIST_PARAMS
            ),
            "post": create,
            "delete": _operation(
                "deletecollection",
                _operation_id("deleteCollection", rt),
                gvk,
                STATUS_SCHEMA,
                params=(*LIST_PARAMS, *DELETE_PARAMS),
                body=DELETE_OPTIONS_SCHEMA,
            ),
            "parameters": scope_params,
        },
        item: {
            **_object_operations(rt, gvk),
            "delete": _operation(
                "delete",
                _operation_id("delete", rt),
                gvk,
                kind_schema,
                params=DELETE_PARAMS,
                body=DELETE_OPTIONS_SCHEMA,
            ),
            "parameters": [NAME_PARAM, *scope_params],
        },
    }
    if rt.namespaced:
        across = rt.collection_path(None)
        paths[across] = {
            "get": _operation(
                "list",
                _operation_id("list", rt, "ForAllNamespaces").replace("Namespaced", ""),
                gvk,
                list_schema,
                params=LIST_PARAMS,
            )
        }
    for sub in rt.subresources:
        sub_gvk = discovery.subresource_kind(rt, sub)
        sub_path = f"{item}/{sub}"
        suffix = sub.capitalize()
        if sub in ("status", "scale"):
            operations = _object_operations(rt, sub_gvk, suffix)
        elif sub in ("binding", "eviction", "token"):
            operations = {
                "post": _operation(
                    "post",
                    _operation_id("create", rt, suffix),
                    sub_gvk,
                    schema_name(sub_gvk),
                    params=WRITE_PARAMS,
                    body=schema_name(sub_gvk),
                    created=True,
                )
            }
        elif sub == "finalize":
            operations = {
                "put": _operation(
                    "put",
                    _operation_id("replace", rt, suffix),
                    sub_gvk,
                    schema_name(sub_gvk),
                    params=WRITE_PARAMS,
                    body=schema_name(sub_gvk),
                )
            }
        else:  # log, exec: connect-style reads
            operations = {
                "get": _operation(
                    "connect" if sub == "exec" else "get",
                    _operation_id("read" if sub == "log" else "connectGet", rt, suffix),
                    sub_gvk,
                    kind_schema,
                )
            }
        paths[sub_path] = {**operations, "parameters": [NAME_PARAM, *scope_params]}
    return paths


def _component_schemas(types: list[resources.ResourceType]) -> dict[str, Any]:
    """Every kind of the group version with its list, the subresource kinds, and all they
    reach (full schemas from the models: `openapi_schemas`)."""
    graph = typegraph.graph()
    roots = [typegraph.STATUS, typegraph.DELETE_OPTIONS]
    lists: dict[str, Any] = {}
    extra: dict[str, Any] = {PATCH_SCHEMA: {"type": "object", "description": PATCH_DESCRIPTION}}
    for rt in types:
        gvk = discovery.resource_kind(rt)
        named = graph.roots.get((gvk.group, gvk.version, gvk.kind))
        if named is None:  # a kind without a model: an object of unknown shape
            extra[schema_name(gvk)] = opaque_kind(gvk)
            named = schema_name(gvk)
        else:
            roots.append(named)
        lists[f"{named}List"] = openapi_schemas.list_schema(
            named, gvk.group, gvk.version, gvk.kind, "v3"
        )
        for sub in rt.subresources:
            sub_gvk = discovery.subresource_kind(rt, sub)
            sub_named = graph.roots.get((sub_gvk.group, sub_gvk.version, sub_gvk.kind))
            if sub_named is not None:
                roots.append(sub_named)
            else:
                extra.setdefault(schema_name(sub_gvk), opaque_kind(sub_gvk))
    schemas = {**openapi_schemas.schemas(roots, "v3"), **lists, **extra}
    return dict(sorted(schemas.items()))


def opaque_kind(gvk: discovery.GroupVersionKind) -> dict[str, Any]:
    api_version = f"{gvk.group}/{gvk.version}" if gvk.group else gvk.version
    return {
        "description": f"{api_version} {gvk.kind}",
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }


def openapi_v3_group_version(group: str, version: str) -> dict[str, Any] | None:
    """`GET /openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; None if not served."""
    types = [r for r in resources.RESOURCES if r.group == group and r.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in types:
        paths.update(_resource_paths(rt))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes", "version": discovery.version_info()["gitVersion"]},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _component_schemas(types)},
    }
