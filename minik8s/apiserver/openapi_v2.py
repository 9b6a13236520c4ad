"""`/openapi/v2`: one Swagger 2.0 document of every served group version.

The paths are the v3 documents' (`openapi.py`) in Swagger's form (a `body` parameter and
`consumes` instead of `requestBody`, `schema` on responses, `#/definitions/` references);
the definitions are rendered from the same type graph in the v2 dialect. kubectl 1.32 asks
for it as protobuf (`openapi_proto.py`) when `/openapi/v3` is missing a kind, and
`kubectl explain --output=plaintext-openapiv2` reads it.
"""

from __future__ import annotations

from typing import Any

from minik8s.api import resources
from minik8s.api.schema import graph as typegraph
from minik8s.apiserver import discovery, openapi, openapi_schemas

V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"
PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]


def _refs_to_v2(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"allOf", "default"} and len(value["allOf"]) == 1:
            return _refs_to_v2(value["allOf"][0])
        return {
            k: (v.replace(V3_REF, V2_REF) if k == "$ref" else _refs_to_v2(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_refs_to_v2(v) for v in value]
    return value


def _parameter(v3: dict[str, Any]) -> dict[str, Any]:
    parameter = {k: v for k, v in v3.items() if k != "schema"}
    parameter.update(v3.get("schema") or {})
    if parameter.get("in") == "query" and parameter.get("type") == "string":
        parameter["uniqueItems"] = True
    return parameter


def _operation(v3: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "description": v3.get("description", ""),
        "consumes": ["*/*"],
        "produces": PRODUCES,
        "schemes": ["https"],
        "operationId": v3["operationId"],
    }
    parameters = [_parameter(p) for p in v3.get("parameters", [])]
    body = v3.get("requestBody")
    if body is not None:
        content = body["content"]
        operation["consumes"] = list(content)
        schema = next(iter(content.values()))["schema"]
        parameters.append(
            {"name": "body", "in": "body", "required": True, "schema": _refs_to_v2(schema)}
        )
    if parameters:
        operation["parameters"] = parameters
    responses: dict[str, Any] = {}
    for code, response in v3.get("responses", {}).items():
        converted: dict[str, Any] = {"description": response.get("description", "")}
        content = response.get("content")
        if content:
            converted["schema"] = _refs_to_v2(next(iter(content.values()))["schema"])
        responses[code] = converted
    operation["responses"] = responses
    for key in ("x-kubernetes-action", "x-kubernetes-group-version-kind"):
        if key in v3:
            operation[key] = v3[key]
    return operation


def _paths(v3_paths: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, item in v3_paths.items():
        converted: dict[str, Any] = {}
        for key, value in item.items():
            if key == "parameters":
                if value:
                    converted["parameters"] = [_parameter(p) for p in value]
            else:
                converted[key] = _operation(value)
        paths[path] = converted
    return paths


def _definitions() -> dict[str, Any]:
    graph = typegraph.graph()
    roots = [typegraph.STATUS, typegraph.DELETE_OPTIONS, *graph.roots.values()]
    definitions = openapi_schemas.schemas(roots, "v2")
    for (group, version, kind), named in graph.roots.items():
        if resources.by_kind(f"{group}/{version}" if group else version, kind) is not None:
            definitions[f"{named}List"] = openapi_schemas.list_schema(
                named, group, version, kind, "v2"
            )
    definitions[openapi.PATCH_SCHEMA] = {
        "type": "object",
        "description": openapi.PATCH_DESCRIPTION,
    }
    return dict(sorted(definitions.items()))


def document() -> dict[str, Any]:
    """The whole Swagger 2.0 document."""
    paths: dict[str, Any] = {}
    for group, version in resources.group_versions():
        v3 = openapi.openapi_v3_group_version(group, version)
        if v3 is not None:
            paths.update(_paths(v3["paths"]))
    definitions = _definitions()
    for rt in resources.RESOURCES:  # kinds without a model: objects of unknown shape
        gvk = discovery.resource_kind(rt)
        definitions.setdefault(openapi.schema_name(gvk), openapi.opaque_kind(gvk))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": discovery.version_info()["gitVersion"]},
        "paths": dict(sorted(paths.items())),
        "definitions": dict(sorted(definitions.items())),
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
            }
        },
        "security": [{"BearerToken": []}],
    }
