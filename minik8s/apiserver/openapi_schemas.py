"""JSON schemas of the served kinds for the OpenAPI documents, rendered from the type graph.

What Kubernetes' own documents carry and clients read:

- `x-kubernetes-group-version-kind` on each kind (kubectl explain and apply find kinds by it);
- `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` on merge lists (kubectl's
  client-side apply computes its strategic merge patch from them);
- `x-kubernetes-list-type` / `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`
  (server-side apply's merge semantics; the same graph drives `minik8s.api.fieldmanager`);
- references: `allOf: [{$ref}]` in v3 (so a field's description can sit beside the
  reference, as Kubernetes writes them), a plain `$ref` with a description in v2.
"""

from __future__ import annotations

from typing import Any, Literal

from minik8s.api.schema import descriptions
from minik8s.api.schema import graph as typegraph

Dialect = Literal["v2", "v3"]
PREFIX: dict[Dialect, str] = {"v2": "#/definitions/", "v3": "#/components/schemas/"}


def ref(name: str, dialect: Dialect) -> dict[str, str]:
    return {"$ref": PREFIX[dialect] + name}


def _field_schema(t: typegraph.TypeRef, description: str, dialect: Dialect) -> dict[str, Any]:
    schema = _type_schema(t, dialect, top=True)
    if description:
        schema = {"description": description, **schema}
    return schema


def _type_schema(t: typegraph.TypeRef, dialect: Dialect, top: bool = False) -> dict[str, Any]:
    if t.named is not None:
        if dialect == "v3" and top:
            return {"allOf": [ref(t.named, dialect)], "default": _default_of(t.named)}
        return ref(t.named, dialect)
    if t.items is not None:
        schema: dict[str, Any] = {"type": "array", "items": _item_schema(t.items, dialect)}
        if t.list_type:
            schema["x-kubernetes-list-type"] = t.list_type
        if t.list_keys:
            schema["x-kubernetes-list-map-keys"] = list(t.list_keys)
        if t.patch_merge_key:
            schema["x-kubernetes-patch-merge-key"] = t.patch_merge_key
        if t.patch_strategy:
            schema["x-kubernetes-patch-strategy"] = t.patch_strategy
        return schema
    if t.values is not None:
        if t.values.untyped:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _item_schema(t.values, dialect)}
    if t.scalar is not None:
        return {"type": t.scalar, **({"format": "int32"} if t.scalar == "integer" else {})}
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _item_schema(t: typegraph.TypeRef, dialect: Dialect) -> dict[str, Any]:
    schema = _type_schema(t, dialect)
    if t.named is not None and dialect == "v3":
        return {"allOf": [schema], "default": _default_of(t.named)}
    if t.scalar == "string":
        schema["default"] = ""
    return schema


def _default_of(name: str) -> Any:
    named = typegraph.graph().types.get(name)
    if named is not None and named.scalar is not None:
        return "" if named.scalar == "string" else 0
    return {}


def named_schema(named: typegraph.NamedType, dialect: Dialect) -> dict[str, Any]:
    """The component (v3) or definition (v2) of one named type."""
    if named.scalar is not None:
        if dialect == "v3" and named.int_or_string:  # as Kubernetes' v3 documents write them
            if named.format == "int-or-string":
                return {
                    "description": named.description,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True,
                }
            return {
                "description": named.description,
                "oneOf": [{"type": "string"}, {"type": "number"}],
            }
        schema: dict[str, Any] = {"description": named.description, "type": named.scalar}
        if named.format:
            schema["format"] = named.format
        return schema
    schema = {"description": named.description, "type": "object"}
    if named.fields:
        schema["properties"] = {
            name: _field_schema(f.type, f.description, dialect) for name, f in named.fields.items()
        }
    required = [name for name, f in named.fields.items() if f.required]
    if required:
        schema["required"] = required
    if named.atomic:
        schema["x-kubernetes-map-type"] = "atomic"
    if named.gvks:
        schema["x-kubernetes-group-version-kind"] = [
            {"group": g, "kind": k, "version": v} for g, v, k in named.gvks
        ]
    if not named.description:
        del schema["description"]
    return schema


def list_schema(item: str, group: str, version: str, kind: str, dialect: Dialect) -> dict[str, Any]:
    """`<Kind>List`: what a list (GET of a collection) returns."""
    meta = ref(typegraph.LIST_META, dialect)
    return {
        "description": f"{kind}List is a list of {kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": descriptions.COMMON["apiVersion"], "type": "string"},
            "items": {
                "description": f"The {kind} objects of the list.",
                "type": "array",
                "items": _item_schema(typegraph.TypeRef(named=item), dialect),
            },
            "kind": {"description": descriptions.COMMON["kind"], "type": "string"},
            "metadata": (
                {"allOf": [meta], "default": {}, "description": "Standard list metadata."}
                if dialect == "v3"
                else {**meta, "description": "Standard list metadata."}
            ),
        },
        "x-kubernetes-group-version-kind": [
            {"group": group, "kind": f"{kind}List", "version": version}
        ],
    }


def schemas(names: list[str], dialect: Dialect) -> dict[str, Any]:
    """The named types `names` and every type they reach, rendered."""
    g = typegraph.graph()
    return {name: named_schema(g.types[name], dialect) for name in g.reachable(names)}
