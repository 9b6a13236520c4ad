"""Field paths and sets of them, in the FieldsV1 form `metadata.managedFields` stores.

A path is a tuple of path elements, each written as FieldsV1 writes it:

    f:<name>        a field of an object          (`f:spec`, `f:replicas`)
    k:<json>        an item of a map list, by key (`k:{"name":"nginx"}`)
    v:<json>        an item of a set list         (`v:"example.com/finalizer"`)
    i:<n>           an item by index              (lists without keys; unused by minik8s)

A set of paths is a Python `set` of tuples. In FieldsV1 JSON it is a tree: each path is a
chain of nested objects, a member is a leaf `{}`, and a node that is a member and has members
below it carries a `"."` key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from minik8s.api.validation.meta import show

Path = tuple[str, ...]
FieldSet = set[Path]
SELF = "."

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def field(name: str) -> str:
    return "f:" + name


def key(item: Mapping[str, Any], keys: Iterable[str], defaults: Mapping[str, Any]) -> str:
    """The element of a map-list item: its key fields, sorted by name, as compact JSON."""
    values = {}
    for name in sorted(keys):
        value = item.get(name, defaults.get(name))
        if value is not None:
            values[name] = value
    return "k:" + orjson.dumps(values).decode()


def value(item: Any) -> str:
    return "v:" + orjson.dumps(item).decode()


def sort_key(element: str) -> tuple[int, Any]:
    rank = _RANK.get(element[:1], 4)
    if rank == 3:
        return rank, int(element[2:] or 0)
    return rank, element[2:]


# --- FieldsV1 trees --------------------------------------------------------------------


def from_fields_v1(tree: Mapping[str, Any]) -> FieldSet:
    """The set of paths a FieldsV1 tree holds."""
    out: FieldSet = set()
    _collect(tree, (), out)
    return out


def _collect(tree: Mapping[str, Any], prefix: Path, out: FieldSet) -> None:
    for element, child in tree.items():
        if element == SELF:
            out.add(prefix)
            continue
        path = (*prefix, element)
        if not child:
            out.add(path)
        elif isinstance(child, Mapping):
            _collect(child, path, out)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 tree of a set of paths, keys in structured-merge-diff's order."""
    root: dict[str, Any] = {}
    members: list[Path] = []
    for path in paths:
        if not path:
            continue
        node = root
        for element in path:
            node = node.setdefault(element, {})
        members.append(path)
    for path in members:
        node = root
        for element in path:
            node = node[element]
        if node:
            node[SELF] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    if not node:
        return node
    out: dict[str, Any] = {}
    if SELF in node:
        out[SELF] = {}
    for element in sorted((e for e in node if e != SELF), key=sort_key):
        out[element] = _sorted(node[element])
    return out


# --- people's form, for conflict messages --------------------------------------------------


def to_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="nginx"].image`, as Kubernetes prints paths."""
    parts = []
    for element in path:
        kind, text = element[:1], element[2:]
        if kind == "f":
            parts.append("." + text)
        elif kind == "k":
            fields = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_go_string(v)}" for k, v in fields.items()) + "]")
        elif kind == "v":
            parts.append(f"[={_go_string(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _go_string(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return show(value)
