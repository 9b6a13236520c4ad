"""OpenAPI v3 documents, as much as kubectl needs: `/openapi/v3` (the index) and
`/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`.

What kubectl does with them (1.32, `apply`/`create` with the default `--validate=strict`):
it asks whether the server validates fields itself by finding, in the group version's
document, the PATCH operation tagged with the object's `x-kubernetes-group-version-kind`
and looking for a `fieldValidation` parameter on it (inline, not a `$ref`). When found, it
skips client-side schema validation and sends `?fieldValidation=Strict`.

For client-side apply's strategic merge patch, kubectl prefers OpenAPI schemas whose
`x-kubernetes-group-version-kind` names the kind; when none does, it falls back to the Go
types compiled into it, which know every merge key of the built-in kinds. So the component
schemas here are deliberately minimal and carry no group-version-kind: a schema without
properties would make kubectl replace lists wholesale instead of merging them by key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from minik8s.api import resources
from minik8s.apiserver import discovery

OPENAPI_VERSION = "3.0.0"
JSON = "application/json"
PATCH_CONTENT_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
"""Patch bodies the PATCH operations accept (server-side apply is not offered)."""

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
STATUS_SCHEMA = f"{_META}.Status"
PATCH_SCHEMA = f"{_META}.Patch"
DELETE_OPTIONS_SCHEMA = f"{_META}.DeleteOptions"
OBJECT_META_SCHEMA = f"{_META}.ObjectMeta"
LIST_META_SCHEMA = f"{_META}.ListMeta"


def schema_name(gvk: discovery.GroupVersionKind) -> str:
    """The component name Kubernetes gives a kind: `io.k8s.api.<group>.<version>.<Kind>`."""
    group = (gvk.group or "core").removesuffix(".k8s.io")
    return f"io.k8s.api.{group}.{gvk.version}.{gvk.kind}"


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


def _kind_schema(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [_ref(OBJECT_META_SCHEMA)], "default": {}},
        },
    }


def _list_schema(item_schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"allOf": [_ref(LIST_META_SCHEMA)], "default": {}},
            "items": {"type": "array", "items": _ref(item_schema)},
        },
    }


def _component_schemas(types: list[resources.ResourceType]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        name: {"type": "object", "description": f"meta.k8s.io/v1 {name.rsplit('.', 1)[-1]}"}
        for name in (
            STATUS_SCHEMA,
            DELETE_OPTIONS_SCHEMA,
            OBJECT_META_SCHEMA,
            LIST_META_SCHEMA,
        )
    }
    schemas[PATCH_SCHEMA] = {"type": "object", "description": "A patch body."}
    for rt in types:
        gvk = discovery.resource_kind(rt)
        schemas[schema_name(gvk)] = _kind_schema(f"{rt.api_version} {rt.kind}")
        schemas[f"{schema_name(gvk)}List"] = _list_schema(schema_name(gvk))
        for sub in rt.subresources:
            sub_gvk = discovery.subresource_kind(rt, sub)
            name = schema_name(sub_gvk)
            api_version = f"{sub_gvk.group}/{sub_gvk.version}".lstrip("/")
            schemas.setdefault(name, _kind_schema(f"{api_version} {sub_gvk.kind}"))
    return dict(sorted(schemas.items()))


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


def document_hash(document: dict[str, Any]) -> str:
    """A content hash for the `?hash=` of a document's URL (clients cache by URL)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(canonical.encode()).hexdigest().upper()


def openapi_v3_index() -> dict[str, Any]:
    """`GET /openapi/v3`: where each group version's document lives."""
    paths: dict[str, Any] = {}
    for group, version in resources.group_versions():
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        document = openapi_v3_group_version(group, version)
        assert document is not None
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={document_hash(document)}"}
    return {"paths": paths}
