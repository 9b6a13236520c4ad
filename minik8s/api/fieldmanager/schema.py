"""What server-side apply needs to know of a type: struct, map, list (and how it merges) or
scalar, compiled once per named type of the type graph (`minik8s.api.schema.graph`).

Fields a model does not declare (minik8s keeps unknown fields) are "deduced" as structured-
merge-diff deduces untyped values: objects are maps merged key by key, lists are atomic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from minik8s.api.schema import graph as typegraph


class Kind(Enum):
    STRUCT = "struct"
    """An object with declared fields (unknown keys are deduced)."""
    MAP = "map"
    """An object with free keys (labels, resources) whose values share one type."""
    LIST = "list"
    SCALAR = "scalar"
    DEDUCED = "deduced"
    """Any JSON: objects merge key by key, lists and scalars are leaves."""


@dataclass(eq=False)
class Schema:
    kind: Kind
    fields: dict[str, Schema] = field(default_factory=dict)
    element: Schema | None = None
    """The values' type (MAP) or the items' type (LIST)."""
    atomic: bool = False
    """Owned and replaced as one value (atomic lists, atomic structs)."""
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()
    key_defaults: dict[str, Any] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    """Fields a struct requires (Go's fields without `omitempty`, present in a zero value)."""

    def field_type(self, name: str) -> Schema:
        """The type of a struct field or map value; deduced for what the schema lacks."""
        if self.kind is Kind.STRUCT:
            return self.fields.get(name, DEDUCED)
        if self.kind is Kind.MAP and self.element is not None:
            return self.element
        return DEDUCED

    def is_named_field(self, name: str) -> bool:
        """A field the struct declares (structured-merge-diff's "named fields")."""
        return self.kind is Kind.STRUCT and name in self.fields


DEDUCED = Schema(Kind.DEDUCED)
SCALAR = Schema(Kind.SCALAR)


class _Compiler:
    def __init__(self, graph: typegraph.Graph) -> None:
        self.graph = graph
        self.named: dict[str, Schema] = {}

    def named_type(self, name: str) -> Schema:
        if name in self.named:
            return self.named[name]
        named = self.graph.types.get(name)
        if named is None:
            return DEDUCED
        if named.scalar is not None:
            self.named[name] = SCALAR
            return SCALAR
        schema = Schema(Kind.STRUCT, atomic=named.atomic)
        self.named[name] = schema  # before the fields: a type may refer to itself
        for json_name, f in named.fields.items():
            schema.fields[json_name] = self.ref(f.type)
        schema.required = frozenset(n for n, f in named.fields.items() if f.required)
        return schema

    def ref(self, ref: typegraph.TypeRef) -> Schema:
        if ref.named is not None:
            return self.named_type(ref.named)
        if ref.items is not None:
            list_type = ref.list_type or "atomic"
            return Schema(
                Kind.LIST,
                element=self.ref(ref.items),
                atomic=list_type == "atomic",
                list_type=list_type,
                keys=ref.list_keys,
                key_defaults=dict(ref.key_defaults),
            )
        if ref.values is not None:
            return Schema(Kind.MAP, element=self.ref(ref.values))
        if ref.scalar is not None:
            return SCALAR
        return DEDUCED


_compiled: dict[tuple[str, str, str], Schema] = {}


def for_kind(group: str, version: str, kind: str) -> Schema:
    """The schema of a served kind (deduced for a kind without a model)."""
    key = (group, version, kind)
    schema = _compiled.get(key)
    if schema is None:
        graph = typegraph.graph()
        compiler = _compiler(graph)
        name = graph.roots.get(key)
        schema = compiler.named_type(name) if name else DEDUCED
        _compiled[key] = schema
    return schema


_compilers: dict[int, _Compiler] = {}


def _compiler(graph: typegraph.Graph) -> _Compiler:
    compiler = _compilers.get(id(graph))
    if compiler is None:
        compiler = _compilers[id(graph)] = _Compiler(graph)
    return compiler
