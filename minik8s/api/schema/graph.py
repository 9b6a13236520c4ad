"""The type graph of the served kinds, built from minik8s's own pydantic models.

One description of every kind's fields feeds both the OpenAPI documents (`/openapi/v2`,
`/openapi/v3`: what `kubectl explain` and client-side apply read) and server-side apply's
field sets (`minik8s.api.fieldmanager`), as Kubernetes' OpenAPI models feed its type
converter. Nothing here is copied from Kubernetes' schemas:

- fields, their JSON names, types and required-ness come from the pydantic models of
  `minik8s.api.models.MODELS` (a kind another engineer adds there appears with no further
  work);
- how a list merges comes from the strategic merge patch rules the apiserver itself applies
  (`minik8s.api.patch.strategic`): a merge list with a key is a `map` list keyed by it, a merge list
  of scalars is a `set`, every other list is `atomic` (replaced whole), as in Kubernetes;
- descriptions come from the models' docstrings (class and attribute docstrings, or a
  field's `description`), else from `descriptions.yaml` beside this module.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from minik8s.api import resources
from minik8s.api.models import MODELS, model_for
from minik8s.api.models import base as model_base
from minik8s.api.models import status as model_status
from minik8s.api.patch import strategic
from minik8s.api.schema import descriptions

Scalar = Literal["string", "integer", "number", "boolean"]
ListType = Literal["atomic", "set", "map"]

META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = f"{META_PACKAGE}.Time"
MICRO_TIME = f"{META_PACKAGE}.MicroTime"
STATUS = f"{META_PACKAGE}.Status"
DELETE_OPTIONS = f"{META_PACKAGE}.DeleteOptions"
LIST_META = f"{META_PACKAGE}.ListMeta"
OBJECT_META = f"{META_PACKAGE}.ObjectMeta"

LIST_MAP_KEYS: dict[tuple[str, str], tuple[tuple[str, str | None], ...]] = {
    ("Container", "ports"): (("containerPort", None), ("protocol", "TCP")),
    ("ServiceSpec", "ports"): (("port", None), ("protocol", "TCP")),
    ("PodSpec", "topologySpreadConstraints"): (
        ("topologyKey", None),
        ("whenUnsatisfiable", None),
    ),
}
"""(type, field) -> the keys of a map list and the default of each key (used when an item
leaves it out), where Kubernetes keys a list by more than its patch merge key."""

ATOMIC_STRUCTS = frozenset({"LabelSelector", "ObjectReference", "OwnerReference", "NodeSelector"})
"""Types owned as one value by server-side apply (`x-kubernetes-map-type: atomic`)."""

TIME_FIELDS = frozenset(
    {
        "creationTimestamp", "deletionTimestamp", "lastTransitionTime", "lastUpdateTime",
        "lastProbeTime", "lastHeartbeatTime", "startTime", "startedAt", "finishedAt",
        "firstTimestamp", "lastTimestamp", "timeAdded", "lastScaleTime", "completionTime",
        "lastScheduleTime", "lastSuccessfulTime", "time", "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp", "timestamp",
    }
)  # fmt: skip
MICRO_TIME_FIELDS = frozenset({"eventTime", "acquireTime", "renewTime", "lastObservedTime"})


@dataclass(frozen=True)
class TypeRef:
    """The type of one field (or of a list item / map value)."""

    scalar: Scalar | None = None
    named: str | None = None
    """A named type of the graph (its OpenAPI component name)."""
    items: TypeRef | None = None
    """For a list: the items' type."""
    values: TypeRef | None = None
    """For a map with free keys (labels, resources): the values' type."""
    untyped: bool = False
    """Any JSON (kept as it is: `x-kubernetes-preserve-unknown-fields`)."""
    list_type: ListType | None = None
    list_keys: tuple[str, ...] = ()
    key_defaults: tuple[tuple[str, str], ...] = ()
    patch_strategy: str | None = None
    patch_merge_key: str | None = None

    @property
    def is_list(self) -> bool:
        return self.items is not None

    @property
    def is_map(self) -> bool:
        return self.values is not None


@dataclass
class Field:
    name: str
    """The JSON name."""
    type: TypeRef
    description: str = ""
    required: bool = False


@dataclass
class NamedType:
    """An object type with declared fields, or a named scalar (Quantity, Time, IntOrString)."""

    name: str
    description: str = ""
    fields: dict[str, Field] = field(default_factory=dict)
    scalar: Scalar | None = None
    """For a named scalar: its JSON type."""
    format: str | None = None
    int_or_string: bool = False
    atomic: bool = False
    gvks: list[tuple[str, str, str]] = field(default_factory=list)
    """(group, version, kind) of the top-level kinds this type is."""

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass
class Graph:
    types: dict[str, NamedType]
    roots: dict[tuple[str, str, str], str]
    """(group, version, kind) -> the named type of that kind."""

    def root(self, group: str, version: str, kind: str) -> NamedType | None:
        name = self.roots.get((group, version, kind))
        return self.types[name] if name else None

    def reachable(self, names: list[str]) -> list[str]:
        """Every named type reachable from `names` (themselves included), sorted."""
        seen: set[str] = set()
        pending = list(names)
        while pending:
            name = pending.pop()
            if name in seen or name not in self.types:
                continue
            seen.add(name)
            for f in self.types[name].fields.values():
                pending.extend(_named_in(f.type))
        return sorted(seen)


def _named_in(ref: TypeRef) -> list[str]:
    found = [ref.named] if ref.named else []
    for inner in (ref.items, ref.values):
        if inner is not None:
            found.extend(_named_in(inner))
    return found


_NAMED_SCALARS = {
    QUANTITY: NamedType(QUANTITY, descriptions.QUANTITY, scalar="string", int_or_string=True),
    INT_OR_STRING: NamedType(
        INT_OR_STRING, descriptions.INT_OR_STRING, scalar="string", format="int-or-string",
        int_or_string=True,
    ),
    TIME: NamedType(TIME, descriptions.TIME, scalar="string", format="date-time"),
    MICRO_TIME: NamedType(MICRO_TIME, descriptions.MICRO_TIME, scalar="string", format="date-time"),
}  # fmt: skip


class _Builder:
    def __init__(self) -> None:
        self.types: dict[str, NamedType] = {n: t for n, t in _NAMED_SCALARS.items()}
        self.names: dict[type[BaseModel], str] = {}
        self.docs = descriptions.Docs()

    def type_name(self, model: type[BaseModel], package: str) -> str:
        """`io.k8s.api.core.v1.PodSpec`: the package of the first kind that reaches it."""
        if model in self.names:
            return self.names[model]
        module = model.__module__.rsplit(".", 1)[-1]
        if module == "meta" or model.__name__ in ("ObjectMeta", "ListMeta"):
            package = META_PACKAGE
        elif module == "core":
            package = package_of("", "v1")
        name = f"{package}.{model.__name__}"
        if name in self.types and self.names.get(model) != name:
            name = f"{package}.{module}.{model.__name__}"  # two models of one name
        self.names[model] = name
        return name

    def add_model(
        self, model: type[BaseModel], package: str, kind: str, path: tuple[str, ...]
    ) -> str:
        name = self.type_name(model, package)
        if name in self.types:
            self._annotate_lists(self.types[name], model, kind, path)
            return name
        named = NamedType(
            name,
            description=self.docs.of_type(model),
            atomic=model.__name__ in ATOMIC_STRUCTS,
        )
        self.types[name] = named  # before the fields: types may refer to themselves
        for attribute, info in model.model_fields.items():
            json_name = info.alias or attribute
            ref = self.ref(info.annotation, package, kind, (*path, json_name))
            ref = _timestamp(ref, json_name)
            named.fields[json_name] = Field(
                json_name,
                ref,
                description=info.description or self.docs.of_field(model, attribute, json_name),
                required=info.is_required(),
            )
        self._annotate_lists(named, model, kind, path)
        return name

    def _annotate_lists(
        self, named: NamedType, model: type[BaseModel], kind: str, path: tuple[str, ...]
    ) -> None:
        """List semantics come from the kind's strategic merge rules, by path."""
        rules = strategic.merge_lists_of(kind)
        for json_name, f in named.fields.items():
            if not f.type.is_list:
                continue
            rule = rules.get((*path, json_name))
            if rule is None:
                if f.type.list_type is None:
                    f.type = _with(f.type, list_type="atomic")
                continue
            if rule.key is None:
                f.type = _with(f.type, list_type="set", patch_strategy="merge")
                continue
            keyed = LIST_MAP_KEYS.get((model.__name__, json_name), ((rule.key, None),))
            f.type = _with(
                f.type,
                list_type="map",
                list_keys=tuple(k for k, _ in keyed),
                key_defaults=tuple((k, d) for k, d in keyed if d is not None),
                patch_strategy="merge",
                patch_merge_key=rule.key,
            )

    def ref(self, annotation: Any, package: str, kind: str, path: tuple[str, ...]) -> TypeRef:
        if annotation is model_base.IntOrString:
            return TypeRef(named=INT_OR_STRING)
        if annotation is model_base.Quantity:
            return TypeRef(named=QUANTITY)
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (typing.Union, types.UnionType):
            rest = [a for a in args if a is not type(None)]
            return (
                self.ref(rest[0], package, kind, path) if len(rest) == 1 else TypeRef(untyped=True)
            )
        if origin is typing.Annotated:
            return self.ref(args[0], package, kind, path)
        if origin is list:
            return TypeRef(items=self.ref(args[0], package, kind, path))
        if origin is dict:
            values = (
                self.ref(args[1], package, kind, path) if len(args) == 2 else TypeRef(untyped=True)
            )
            return TypeRef(values=values)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return TypeRef(named=self.add_model(annotation, package, kind, path))
        scalar = _SCALARS.get(annotation)
        return TypeRef(scalar=scalar) if scalar else TypeRef(untyped=True)


_SCALARS: dict[Any, Scalar] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _with(ref: TypeRef, **changes: Any) -> TypeRef:
    values = {f: getattr(ref, f) for f in TypeRef.__dataclass_fields__}
    values.update(changes)
    return TypeRef(**values)


def _timestamp(ref: TypeRef, json_name: str) -> TypeRef:
    """String fields holding times are `Time` / `MicroTime`, as Kubernetes declares them."""
    if ref.scalar != "string":
        return ref
    if json_name in MICRO_TIME_FIELDS:
        return TypeRef(named=MICRO_TIME)
    if json_name in TIME_FIELDS:
        return TypeRef(named=TIME)
    return ref


def package_of(group: str, version: str) -> str:
    """`io.k8s.api.<group>.<version>` as Kubernetes names its packages."""
    short = (group or "core").removesuffix(".k8s.io")
    if group == "apiregistration.k8s.io":
        return f"io.k8s.kube-aggregator.pkg.apis.{short}.{version}"
    if group == "metrics.k8s.io":
        return f"io.k8s.metrics.pkg.apis.metrics.{version}"
    return f"io.k8s.api.{short}.{version}"


def kinds() -> list[tuple[str, str, str]]:
    """(group, version, kind) of every served kind and subresource kind with a model."""
    found: list[tuple[str, str, str]] = []
    # core kinds first: a type shared by several groups is named after the core one
    for rt in sorted(resources.RESOURCES, key=lambda r: r.group != ""):
        if model_for(rt.api_version, rt.kind) and (rt.group, rt.version, rt.kind) not in found:
            found.append((rt.group, rt.version, rt.kind))
    for gvk in (("autoscaling", "v1", "Scale"), ("", "v1", "Binding")):
        if gvk[2] in MODELS and gvk not in found:
            found.append(gvk)
    return found


@functools.cache
def graph() -> Graph:
    """The graph of every served kind (built once per process)."""
    builder = _Builder()
    roots: dict[tuple[str, str, str], str] = {}
    for group, version, kind in kinds():
        model = model_for(f"{group}/{version}" if group else version, kind)
        assert model is not None
        name = builder.add_model(model, package_of(group, version), kind, ())
        roots[(group, version, kind)] = name
        builder.types[name].gvks.append((group, version, kind))
    for model in (model_status.Status, model_status.DeleteOptions):
        builder.add_model(model, META_PACKAGE, "", ())
    return Graph(builder.types, roots)
