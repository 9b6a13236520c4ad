"""The fields of the built-in kinds, as Go's typed decoding sees them: unknown fields, JSON
types and 64-bit integers.

Kubernetes decodes a body into the kind's Go struct: a field the struct lacks is dropped (or
reported, with `fieldValidation`), a value of the wrong JSON type is a 400, and an integer
must fit its Go type. The field table is `protobuf_schema.json` (every field of every message
reachable from the kinds minik8s serves, from k8s.io/api's generated.proto), so the check
knows every field a 1.32 client may send, not only those minik8s acts on.

`inspect` walks an object once (its depth is bounded by the schema, not by the input: an
unknown subtree is never entered) and reports what it found; callers decide what is an error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import protobuf
from minik8s.api.patch import strategic

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TYPE_META = frozenset({"apiVersion", "kind"})
"""Fields every top-level object has beside its message's own (runtime.TypeMeta)."""

_META = protobuf.META
_STRING_LIKE = frozenset({*protobuf.TIME_TYPES, f"{_META}.Duration"})
_OPAQUE = frozenset({protobuf.FIELDS_V1, protobuf.RAW_EXTENSION})
"""Free-form JSON, kept as it is (managedFields' FieldsV1, a ControllerRevision's data)."""


@dataclass
class Findings:
    """What one walk found, with Kubernetes field paths (`spec.containers[0].foo`)."""

    unknown: list[str] = field(default_factory=list)
    """Fields the kind does not have (removed from the object when pruning)."""
    type_errors: list[str] = field(default_factory=list)
    """Go's decoding errors for values of the wrong JSON type."""
    out_of_range: list[tuple[str, int | float]] = field(default_factory=list)
    """Integers that fit no 64-bit Go integer: (path, value)."""
    root: str = ""
    """The message walked, named in type errors as Go names the struct."""


@functools.cache
def _fields_by_name(message: str) -> dict[str, list[Any]]:
    """JSON name -> field; the fields of an embedded (inline) struct count as the parent's."""
    fields: dict[str, list[Any]] = {}
    for spec in protobuf.schema().get(message, {}).values():
        if (message, spec[0]) in protobuf.INLINE:
            fields.update(_fields_by_name(spec[2]))
        else:
            fields[spec[0]] = spec
    return fields


def message_for(api_version: str, kind: str) -> str | None:
    """The schema message of a kind, or None when the schema does not know it."""
    try:
        return protobuf.message_name(api_version, kind)
    except protobuf.DecodeError:
        return None


def inspect(message: str, obj: dict[str, Any], prune: bool = False) -> Findings:
    """Walk `obj` as a `message`; with `prune`, unknown fields are deleted from it."""
    findings = Findings(root=message)
    _walk_message(message, obj, "", findings, prune, top=True)
    return findings


def _go_type(message: str) -> str:
    package, _, name = message.rpartition(".")
    return f"{package.rsplit('.', 1)[-1]}.{name}"


def _type_error(findings: Findings, value: Any, message: str, path: str, go_type: str) -> None:
    struct = (findings.root or message).rpartition(".")[2]
    findings.type_errors.append(
        f"json: cannot unmarshal {strategic.json_type(value)} into Go struct field "
        f"{struct}.{path} of type {go_type}"
    )


def _walk_message(
    message: str, obj: dict[str, Any], path: str, findings: Findings, prune: bool, top: bool
) -> None:
    known = _fields_by_name(message)
    for name in list(obj):
        value = obj[name]
        spec = known.get(name)
        if spec is not None and (value is None or _plain_scalar(spec, value)):
            continue  # most fields: nothing to report, no path to build
        child = f"{path}.{name}" if path else name
        if spec is None:
            if top and name in TYPE_META:
                if value is not None and not isinstance(value, str):
                    _type_error(findings, value, message, child, "string")
                continue
            findings.unknown.append(child)
            if prune:
                del obj[name]
            continue
        if value is None:
            continue  # JSON null decodes to the zero value of any Go type
        kind, target = spec[1], spec[2]
        repeated = len(spec) > 3 and spec[3]
        if kind == "map":
            if not isinstance(value, dict):
                _type_error(findings, value, message, child, "map[string]...")
                continue
            for key, item in value.items():
                _walk_value(target, target, item, f"{child}[{key}]", message, findings, prune)
            continue
        if repeated:
            if not isinstance(value, list):
                _type_error(findings, value, message, child, f"[]{_scalar_go(kind, target)}")
                continue
            for i, item in enumerate(value):
                _walk_value(kind, target, item, f"{child}[{i}]", message, findings, prune)
            continue
        _walk_value(kind, target, value, child, message, findings, prune)


def _plain_scalar(spec: Any, value: Any) -> bool:
    """A single string or boolean field holding a value of its type (what `_walk_value`
    accepts without a finding)."""
    kind = spec[1]
    if len(spec) > 3 and spec[3]:
        return False
    if kind == "string" or kind == "bytes":
        return isinstance(value, str)
    return kind == "bool" and isinstance(value, bool)


def _scalar_go(kind: str, target: str | None) -> str:
    if kind == "message" and target:
        return _go_type(target)
    return {"int": "int64", "bool": "bool"}.get(kind, "string")


def _walk_value(
    kind: str,
    target: str | None,
    value: Any,
    path: str,
    parent: str,
    findings: Findings,
    prune: bool,
) -> None:
    if value is None:
        return
    if kind in ("string", "bytes"):
        if not isinstance(value, str):
            _type_error(findings, value, parent, path, "string")
    elif kind == "bool":
        if not isinstance(value, bool):
            _type_error(findings, value, parent, path, "bool")
    elif kind == "int":
        _check_int(value, path, parent, findings)
    else:  # "message" with its name in `target`, or a map's message value type
        message = target if kind == "message" else kind
        assert message is not None
        _walk_embedded(message, value, path, parent, findings, prune)


def _check_int(value: Any, path: str, parent: str, findings: Findings) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _type_error(findings, value, parent, path, "int64")
    elif isinstance(value, float):
        if not value.is_integer() or not INT64_MIN <= value <= INT64_MAX:
            findings.out_of_range.append((path, value))
    elif not INT64_MIN <= value <= INT64_MAX:
        findings.out_of_range.append((path, value))


def _walk_embedded(
    message: str, value: Any, path: str, parent: str, findings: Findings, prune: bool
) -> None:
    if message in _OPAQUE:
        return
    if message in _STRING_LIKE:
        if not isinstance(value, str):
            _type_error(findings, value, parent, path, _go_type(message))
        return
    if message == protobuf.QUANTITY:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            _type_error(findings, value, parent, path, "resource.Quantity")
        return
    if message == protobuf.INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, str | int):
            _type_error(findings, value, parent, path, "intstr.IntOrString")
        elif isinstance(value, int):
            _check_int(value, path, parent, findings)
        return
    if not isinstance(value, dict):
        _type_error(findings, value, parent, path, _go_type(message))
        return
    _walk_message(message, value, path, findings, prune, top=False)
