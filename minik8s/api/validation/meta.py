"""Validation shared by every kind: field paths, causes, metadata, labels, label selectors, and
the translation of pydantic errors into Kubernetes-style causes."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

import pydantic

from minik8s.api import errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt

NameValidator = Callable[[str, bool], list[str]]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
ANNOTATIONS_SIZE_LIMIT = 256 * 1024


# --- paths and causes -------------------------------------------------------------------


def child(path: str, *names: str) -> str:
    return ".".join([path, *names]) if path else ".".join(names)


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, name: str) -> str:
    return f"{path}[{name}]"


def show(value: Any) -> str:
    """A value the way Kubernetes prints it in a message (Go's %q / %v / %#v)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{pairs}}}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, f"Invalid value: {show(value)}: {detail}", "FieldValueInvalid")


def not_found(field: str, value: Any) -> Cause:
    return Cause(field, f"Not found: {show(value)}", "FieldValueNotFound")


def too_long(field: str, limit: int) -> Cause:
    return Cause(field, f"Too long: must have at most {limit} bytes", "FieldValueTooLong")


def required(field: str, detail: str = "") -> Cause:
    cause = errors.required(field)
    return Cause(field, f"{cause.message}: {detail}", cause.reason) if detail else cause


def invalid_each(field: str, value: Any, messages: Iterable[str]) -> list[Cause]:
    return [invalid(field, value, message) for message in messages]


def unique_label_name(field: str, name: str, seen: set[str]) -> list[Cause]:
    """A required DNS-1123 label not used before in its list (containers, volumes); records it."""
    if not name:
        causes = [required(field)]
    elif name in seen:
        causes = [errors.duplicate(field, name)]
    else:
        causes = invalid_each(field, name, fmt.is_dns1123_label(name))
    seen.add(name)
    return causes


def enum(field: str, value: Any, supported: list[str]) -> list[Cause]:
    """Required when empty, Unsupported when not one of `supported`."""
    if value is None:
        return []
    if value == "":
        return [required(field)]
    return [] if value in supported else [errors.not_supported(field, value, supported)]


def non_negative(field: str, value: Any) -> list[Cause]:
    return [invalid(field, value, IS_NEGATIVE)] if isinstance(value, int) and value < 0 else []


def immutable(field: str, new: Any, old: Any) -> list[Cause]:
    return [] if new == old else [invalid(field, new, FIELD_IMMUTABLE)]


def items(obj: Any, field: str) -> list[dict[str, Any]]:
    """The entries of the list `obj[field]` (absent or null is an empty list)."""
    value = obj.get(field) if isinstance(obj, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def mapping(obj: Any, field: str) -> dict[str, Any]:
    """The object `obj[field]` (absent or null is an empty dict)."""
    value = obj.get(field) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


# --- metadata ---------------------------------------------------------------------------


def validate_object_meta(
    meta: dict[str, Any], namespaced: bool, name_fn: NameValidator, path: str = "metadata"
) -> list[Cause]:
    causes: list[Cause] = []
    generate_name = meta.get("generateName")
    if generate_name:
        causes += invalid_each(
            child(path, "generateName"), generate_name, name_fn(generate_name, True)
        )
    name = meta.get("name")
    if not name:
        causes.append(required(child(path, "name"), "name or generateName is required"))
    else:
        causes += invalid_each(child(path, "name"), name, name_fn(name, False))
    namespace = meta.get("namespace")
    if namespaced and not namespace:
        causes.append(required(child(path, "namespace")))
    elif namespaced:
        causes += invalid_each(
            child(path, "namespace"), namespace, fmt.name_is_dns_label(str(namespace))
        )
    elif namespace:
        causes.append(errors.forbidden(child(path, "namespace"), "not allowed on this type"))
    causes += non_negative(child(path, "generation"), meta.get("generation"))
    causes += validate_labels(mapping(meta, "labels"), child(path, "labels"))
    causes += validate_annotations(mapping(meta, "annotations"), child(path, "annotations"))
    causes += _validate_owner_references(
        items(meta, "ownerReferences"), child(path, "ownerReferences")
    )
    for finalizer in meta.get("finalizers") or []:
        causes += invalid_each(
            child(path, "finalizers"), finalizer, fmt.is_qualified_name(finalizer)
        )
    return causes


def validate_object_meta_update(
    new: dict[str, Any], old: dict[str, Any], path: str = "metadata"
) -> list[Cause]:
    """Identity fields never change; an absent uid or creationTimestamp means "unchanged"."""
    causes: list[Cause] = []
    for field in ("name", "namespace"):
        causes += immutable(child(path, field), new.get(field) or "", old.get(field) or "")
    for field in ("uid", "creationTimestamp"):
        if new.get(field):
            causes += immutable(child(path, field), new.get(field), old.get(field))
    return causes


def validate_labels(labels: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for label_key, value in labels.items():
        causes += validate_label_name(label_key, path)
        causes += invalid_each(path, value, fmt.is_label_value(value))
    return causes


def validate_label_name(name: str, path: str) -> list[Cause]:
    return invalid_each(path, name, fmt.is_qualified_name(name))


def validate_annotations(annotations: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for annotation_key in annotations:
        # Like label keys, except that case does not matter.
        causes += invalid_each(path, annotation_key, fmt.is_qualified_name(annotation_key.lower()))
    size = sum(len(k) + len(str(v)) for k, v in annotations.items())
    if size > ANNOTATIONS_SIZE_LIMIT:
        causes.append(too_long(path, ANNOTATIONS_SIZE_LIMIT))
    return causes


def validate_label_selector(selector: dict[str, Any], path: str) -> list[Cause]:
    causes = validate_labels(mapping(selector, "matchLabels"), child(path, "matchLabels"))
    for i, requirement in enumerate(items(selector, "matchExpressions")):
        causes += validate_selector_requirement(
            requirement,
            index(child(path, "matchExpressions"), i),
            ("In", "NotIn", "Exists", "DoesNotExist"),
        )
    return causes


def validate_selector_requirement(
    requirement: dict[str, Any], path: str, operators: tuple[str, ...]
) -> list[Cause]:
    """One `{key, operator, values}` of a label or node selector."""
    causes: list[Cause] = []
    operator = requirement.get("operator")
    values = requirement.get("values") or []
    if operator in ("In", "NotIn") and not values:
        causes.append(
            required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
        )
    elif operator in ("Exists", "DoesNotExist") and values:
        causes.append(
            errors.forbidden(
                child(path, "values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )
        )
    elif operator in ("Gt", "Lt") and operator in operators and len(values) != 1:
        causes.append(
            required(
                child(path, "values"),
                "must be specified single value when `operator` is 'Lt' or 'Gt'",
            )
        )
    elif operator not in operators:
        causes.append(invalid(child(path, "operator"), operator, "not a valid selector operator"))
    causes += validate_label_name(str(requirement.get("key") or ""), child(path, "key"))
    return causes


def _validate_owner_references(references: list[dict[str, Any]], path: str) -> list[Cause]:
    causes: list[Cause] = []
    controllers: list[str] = []
    for reference in references:
        api_version = str(reference.get("apiVersion") or "")
        if not api_version or api_version.endswith("/"):
            causes.append(
                invalid(child(path, "apiVersion"), api_version, "version must not be empty")
            )
        for field in ("kind", "name", "uid"):
            if not reference.get(field):
                causes.append(
                    invalid(child(path, field), reference.get(field) or "", "must not be empty")
                )
        if reference.get("controller"):
            controllers.append(f"{reference.get('kind')}/{reference.get('name')}")
    if len(controllers) > 1:
        causes.append(
            invalid(
                path,
                references,
                "Only one reference can have Controller set to true. Found "
                f'"true" in references for {controllers[0]} and {controllers[1]}',
            )
        )
    return causes


# --- pydantic errors --------------------------------------------------------------------

_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be an array",
}


def model_causes(model: type[pydantic.BaseModel], obj: Any) -> list[Cause]:
    """Validate `obj` against `model`; each pydantic error becomes one Kubernetes-style cause."""
    try:
        model.model_validate(obj)
    except pydantic.ValidationError as e:
        return [_cause_of(model, error) for error in e.errors(include_url=False)]
    return []


def _cause_of(model: type[pydantic.BaseModel], error: Any) -> Cause:
    path = _render_loc(model, error["loc"])
    if error["type"] == "missing":
        return required(path)
    message = _TYPE_MESSAGES.get(error["type"]) or str(error["msg"])
    return invalid(path, error.get("input"), message)


def _render_loc(model: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location into a Kubernetes field path: map keys become `[key]`."""
    path = ""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(part, int):
            path = index(path, part)
            annotation = _first_arg(annotation) if origin is list else None
        elif origin is dict:
            path = key(path, str(part))
            args = typing.get_args(annotation)
            annotation = args[1] if len(args) == 2 else None
        else:
            path = child(path, str(part))
            annotation = _field_annotation(annotation, str(part))
    return path


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type that holds the fields."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else None
        else:
            return annotation


def _first_arg(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[0] if args else None


def _field_annotation(model: Any, alias: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        return None
    for name, field in model.model_fields.items():
        if alias in (field.alias, name):
            return field.annotation
    return None
