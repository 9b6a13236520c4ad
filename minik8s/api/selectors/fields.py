"""Field selectors, as apimachinery's `pkg/fields` and the registries' `GetAttrs` do them.

`field=value`, `field==value` and `field!=value` joined by commas, with `\\,` `\\=` `\\\\`
escaping in values. Which fields a kind supports, and how each field's value is derived from an
object, follow the Kubernetes registries (`GetAttrs` / field label conversions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.selectors.labels import Operator


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector: `field=value` or `field!=value`."""

    field: str
    operator: Operator
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.field) == self.value
        return not equal if self.operator is Operator.NOT_EQUALS else equal

    def __str__(self) -> str:
        symbol = "!=" if self.operator is Operator.NOT_EQUALS else "="
        return f"{self.field}{symbol}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field requirements; none selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(requirement.field for requirement in self.requirements)

    def exact(self, field: str) -> str | None:
        """The value an `=`/`==` requirement demands of `field`, e.g. to pick an index."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator is not Operator.NOT_EQUALS:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def escape_field_value(value: str) -> str:
    """Escape a value for a field selector, like `fields.EscapeValue`."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise errors.BadRequest(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise errors.BadRequest(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped; escapes stay in the terms."""
    terms: list[str] = []
    start, escaped = 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


_FIELD_OPERATORS = (
    ("!=", Operator.NOT_EQUALS),
    ("==", Operator.DOUBLE_EQUALS),
    ("=", Operator.EQUALS),
)


def parse_field_selector(text: str, kind: str | None = None) -> FieldSelector:
    """Parse the `fieldSelector` query syntax; "" selects everything.

    With `kind`, also check every field is selectable on that kind (`validate_field_selector`).
    """
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(text)) if text else []:
        if not term:
            continue
        split = next(
            (
                (term[:i], op, term[i + len(symbol) :])
                for i in range(len(term))
                for symbol, op in _FIELD_OPERATORS
                if term.startswith(symbol, i)
            ),
            None,
        )
        if split is None:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, raw_value = split
        requirements.append(FieldRequirement(field, op, _unescape_field_value(raw_value)))
    selector = FieldSelector(tuple(requirements))
    if kind is not None:
        validate_field_selector(selector, kind)
    return selector


_METADATA_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_SELECTABLE_FIELDS: dict[str, frozenset[str]] = {
    "Pod": _METADATA_FIELDS
    | {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        "spec.host",  # the pre-v1 name of spec.nodeName, still accepted
    },
    "Node": frozenset({"metadata.name", "spec.unschedulable"}),
    "Namespace": frozenset({"metadata.name", "status.phase"}),
    "Service": _METADATA_FIELDS | {"spec.clusterIP", "spec.type"},
    "Secret": _METADATA_FIELDS | {"type"},
    "Event": _METADATA_FIELDS
    | {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
}
"""Kinds with their own field label conversion. Every other kind (Endpoints, ConfigMap,
Deployment, ReplicaSet, Lease) gets the default one: metadata.name and metadata.namespace only.
apps/v1 registers no conversion for ReplicaSet, so its `status.replicas` is rejected too."""


def validate_field_selector(selector: FieldSelector, kind: str) -> FieldSelector:
    """Reject fields `kind` cannot be selected by, with Kubernetes' messages; return `selector`."""
    supported = _SELECTABLE_FIELDS.get(kind)
    for requirement in selector.requirements:
        field = requirement.field
        if supported is None and field not in _METADATA_FIELDS:
            raise errors.BadRequest(
                f'"{field}" is not a known field selector: only "metadata.name", '
                '"metadata.namespace"'
            )
        if supported is not None and field not in supported:
            raise errors.BadRequest(f"field label not supported: {field}")
    return selector


_FALSE_WHEN_MISSING = frozenset({"spec.hostNetwork", "spec.unschedulable"})


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The string a field selector compares for `field` of `obj`; "" when it is missing.

    Mirrors the registries' selectable field sets: booleans print as `true`/`false` (and
    default to `false`), an Event's `source` is `source.component`, a Pod's `status.podIP`
    falls back to `status.podIPs[0].ip`, and lists and objects are not selectable.
    """
    if field == "source":
        field = "source.component"
    elif field == "spec.host":
        field = "spec.nodeName"
    elif field == "status.podIPs":
        return ""
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if field == "status.podIP" and not value:
        ips = (obj.get("status") or {}).get("podIPs") or []
        value = ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else None
    if value is None:
        return "false" if field in _FALSE_WHEN_MISSING else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return ""
