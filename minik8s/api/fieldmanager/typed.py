"""Walks over an object and its schema: field sets, comparison, merge and removal, with the
semantics structured-merge-diff gives them (minik8s's own implementation).

- `field_set`: the fields a value sets: scalars, atomic lists and structs, list items (by key
  or value), map entries, and empty or null values;
- `compare`: what changed from one value to another: added, modified and removed paths (an
  added or removed object brings its own path and all below it);
- `merge`: a configuration over a live value: the configuration wins, objects merge key by
  key, map lists item by item (keyed), set lists item by item, atomic values are replaced;
- `remove`: a value without the given paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minik8s.api.fieldmanager import fieldpath
from minik8s.api.fieldmanager.fieldpath import FieldSet, Path
from minik8s.api.fieldmanager.schema import Kind, Schema


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""A value that is not there (unlike JSON's null, which is a value)."""


def _is_leaf(schema: Schema, value: Any) -> bool:
    """Atomic types, scalars and values of another shape than the schema's are leaves."""
    if schema.atomic or schema.kind is Kind.SCALAR:
        return True
    if schema.kind is Kind.LIST:
        return not isinstance(value, list)
    if schema.kind is Kind.DEDUCED:
        return not isinstance(value, dict)
    return not isinstance(value, dict)


def element_of(schema: Schema, item: Any, index: int) -> str:
    """The path element of a list item: by key (map lists), by value (sets), else by index."""
    if schema.list_type == "map" and schema.keys and isinstance(item, dict):
        return fieldpath.key(item, schema.keys, schema.key_defaults)
    if schema.list_type == "set":
        return fieldpath.value(item)
    return f"i:{index}"


def _items(schema: Schema, items: list[Any]) -> dict[str, Any]:
    """A list's items by path element (the first of duplicates wins)."""
    indexed: dict[str, Any] = {}
    element = schema.element
    assert element is not None
    for i, item in enumerate(items):
        indexed.setdefault(element_of(schema, item, i), item)
    return indexed


# --- field sets ------------------------------------------------------------------------


def field_set(value: Any, schema: Schema, prefix: Path = ()) -> FieldSet:
    out: FieldSet = set()
    _field_set(value, schema, prefix, out)
    return out


def _field_set(value: Any, schema: Schema, path: Path, out: FieldSet) -> None:
    if _is_leaf(schema, value):
        if path:
            out.add(path)
        return
    if schema.kind is Kind.LIST:
        element = schema.element
        assert element is not None
        for pe, item in _items(schema, value).items():
            item_path = (*path, pe)
            _field_set(item, element, item_path, out)
            out.add(item_path)
        return
    for key, child in value.items():
        child_path = (*path, "f:" + key)
        _field_set(child, schema.field_type(key), child_path, out)
        if child is None or child == {} or not schema.is_named_field(key):
            out.add(child_path)


def created_fields(value: Any, schema: Schema) -> dict[str, Any]:
    """The FieldsV1 tree a create of `value` gives its creator, built in one pass: every field
    is added (the same set `compare` gives against nothing), without the "." of fields a Go
    zero value already holds (see `manager.update`)."""
    return _created(value, schema, member=False)


_SCALAR_TYPES = (str, int, float, bool, type(None))


def _created(value: Any, schema: Schema, member: bool) -> dict[str, Any]:
    if isinstance(value, _SCALAR_TYPES) or not value or _is_leaf(schema, value):
        return {}
    children: dict[str, Any] = {}
    if schema.kind is Kind.LIST:
        element = schema.element
        assert element is not None
        for pe, item in _items(schema, value).items():
            children[pe] = _created(item, element, True)
    else:
        fields, required = schema.fields, schema.required
        for key, child in value.items():
            child_schema = fields.get(key) if schema.kind is Kind.STRUCT else None
            if child_schema is None:
                child_schema = schema.field_type(key)
                in_zero = False
            else:
                in_zero = key in required or (
                    child_schema.kind is Kind.STRUCT and not child_schema.atomic
                )
            children["f:" + key] = _created(child, child_schema, not in_zero)
    ordered: dict[str, Any] = {fieldpath.SELF: {}} if member else {}
    if len(children) == 1:
        ordered.update(children)
    else:
        for pe in sorted(children, key=fieldpath.sort_key):
            ordered[pe] = children[pe]
    return ordered


# --- comparison --------------------------------------------------------------------------


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=set)
    modified: FieldSet = field(default_factory=set)
    removed: FieldSet = field(default_factory=set)

    @property
    def changed(self) -> FieldSet:
        """Paths added or modified: where other managers' fields conflict."""
        return self.added | self.modified

    def empty(self) -> bool:
        return not (self.added or self.modified or self.removed)


def compare(old: Any, new: Any, schema: Schema, prefix: Path = ()) -> Comparison:
    result = Comparison()
    _compare(old, new, schema, prefix, result)
    return result


def _compare(old: Any, new: Any, schema: Schema, path: Path, result: Comparison) -> None:
    if old is not ABSENT and new is not ABSENT and old == new:
        return  # nothing differs below (dict equality runs in C)
    leaf = _is_leaf(schema, new if new is not ABSENT else old)
    if not leaf and old is not ABSENT and new is not ABSENT:
        leaf = _is_leaf(schema, old)  # a value that changed shape is replaced whole
    if leaf:
        _mark(old, new, path, result, modified=True)
        return
    if schema.kind is Kind.LIST:
        element = schema.element
        assert element is not None
        olds = _items(schema, old) if old is not ABSENT else {}
        news = _items(schema, new) if new is not ABSENT else {}
        if not olds and not news:
            _mark(old, new, path, result, modified=True)
            return
        for pe in {**olds, **news}:
            _compare(olds.get(pe, ABSENT), news.get(pe, ABSENT), element, (*path, pe), result)
    else:
        olds = old if old is not ABSENT else {}
        news = new if new is not ABSENT else {}
        if not olds and not news:
            _mark(old, new, path, result, modified=True)
            return
        for key in {**olds, **news}:
            _compare(
                olds.get(key, ABSENT),
                news.get(key, ABSENT),
                schema.field_type(key),
                (*path, "f:" + key),
                result,
            )
    _mark(old, new, path, result, modified=False)


def _mark(old: Any, new: Any, path: Path, result: Comparison, *, modified: bool) -> None:
    if not path:
        return
    if old is ABSENT:
        result.added.add(path)
    elif new is ABSENT:
        result.removed.add(path)
    elif modified:
        result.modified.add(path)


# --- merge ---------------------------------------------------------------------------------


def merge(live: Any, config: Any, schema: Schema) -> Any:
    """`config` over `live` (neither is changed; the result may share their parts)."""
    if config is ABSENT:
        return live
    if live is ABSENT or _is_leaf(schema, config) or _is_leaf(schema, live):
        return config
    if schema.kind is Kind.LIST:
        return _merge_list(live, config, schema)
    merged = dict(live)
    for key, value in config.items():
        if value is None:
            merged.pop(key, None)  # null sets nothing (Go decodes it to the zero value)
            continue
        merged[key] = merge(live.get(key, ABSENT), value, schema.field_type(key))
    return merged


def _merge_list(live: list[Any], config: list[Any], schema: Schema) -> list[Any]:
    """Items of both, keyed: the configuration's in its order, live-only items kept where
    they stood relative to the items both have."""
    element = schema.element
    assert element is not None
    lives = _items(schema, live)
    configs = _items(schema, config)
    live_order, config_order = list(lives), list(configs)
    shared = [pe for pe in config_order if pe in lives]
    out: list[Any] = []
    done: set[str] = set()
    li = ci = 0
    next_shared = 0
    while li < len(live_order) or ci < len(config_order):
        if li < len(live_order) and ci < len(config_order):
            pe = live_order[li]
            if pe == config_order[ci]:
                out.append(merge(lives[pe], configs[pe], element))
                done.add(pe)
                li += 1
                ci += 1
                next_shared += 1
                continue
            if pe in configs and next_shared < len(shared) and shared[next_shared] != pe:
                li += 1
                continue
        if li < len(live_order):
            pe = live_order[li]
            if pe not in configs:
                out.append(lives[pe])
                li += 1
                continue
            if pe in done:
                li += 1
        if ci < len(config_order):
            pe = config_order[ci]
            done.add(pe)
            out.append(merge(lives.get(pe, ABSENT), configs[pe], element))
            ci += 1
            if next_shared < len(shared) and shared[next_shared] == pe:
                next_shared += 1
    return out


# --- removal -------------------------------------------------------------------------------


def _trie(paths: FieldSet) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        node[fieldpath.SELF] = True
    return root


def remove(value: Any, paths: FieldSet, schema: Schema) -> Any:
    """`value` without the members of `paths` (a subtree goes with its path; an object or list
    left empty goes too). The input is not changed."""
    if not paths:
        return value
    result = _remove(value, _trie(paths), schema)
    return {} if result is ABSENT else result


def _remove(value: Any, trie: dict[str, Any], schema: Schema) -> Any:
    if _is_leaf(schema, value):
        return value
    if schema.kind is Kind.LIST:
        element = schema.element
        assert element is not None
        kept = []
        for i, item in enumerate(value):
            sub = trie.get(element_of(schema, item, i))
            if sub is None:
                kept.append(item)
            elif sub.get(fieldpath.SELF):
                continue
            else:
                item = _remove(item, sub, element)
                if item is not ABSENT:
                    kept.append(item)
        return kept if kept else ABSENT
    out = {}
    for key, child in value.items():
        sub = trie.get("f:" + key)
        if sub is None:
            out[key] = child
        elif sub.get(fieldpath.SELF):
            continue
        else:
            child = _remove(child, sub, schema.field_type(key))
            if child is not ABSENT:
                out[key] = child
    return out if out else ABSENT


def with_named_fields(paths: FieldSet, schema: Schema) -> FieldSet:
    """`paths` plus every declared field of a struct that has members below it (the fields
    structured-merge-diff counts as owned along with what they hold)."""
    out = set(paths)
    for path in paths:
        current = schema
        for i, element in enumerate(path[:-1]):
            if element.startswith("f:"):
                name = element[2:]
                if current.is_named_field(name):
                    out.add(path[: i + 1])
                current = current.field_type(name)
            else:
                current = current.element or current
    return out
