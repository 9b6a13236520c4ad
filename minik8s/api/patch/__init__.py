"""PATCH bodies: JSON merge patch, JSON patch, strategic merge patch and server-side apply.

`apply_patch` is what the apiserver calls: it picks the patch type from the Content-Type,
parses the body and answers bad input the way Kubernetes does (400 for a body that does not
parse, 422 for a patch that cannot be applied, 415 for an unknown patch type).

Server-side apply of objects is `minik8s.api.fieldmanager` (field managers, conflicts,
removal of what an applier no longer applies); the registry calls it with the configuration
`decode_apply_configuration` reads. `apply_configuration` is only the simple merge used for
an apply patch of a `scale` subresource (the Scale object has no managed fields of its own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from minik8s.api import errors
from minik8s.api.patch import strategic

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
"""In the order Kubernetes lists them for built-in kinds."""

MAX_JSON_PATCH_OPERATIONS = 10_000


def apply_patch(
    target: Mapping[str, Any], patch_body: bytes, content_type: str, kind: str
) -> dict[str, Any]:
    """Apply a PATCH request body of `content_type` to `target`, a `kind` object."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_PATCH:
        return apply_json_patch(target, _decode_json(patch_body))
    if media_type == MERGE_PATCH:
        try:
            merge_patch = _decode_json(patch_body)
        except errors.BadRequest as e:
            raise errors.BadRequest("Invalid JSON Patch") from e
        return apply_merge_patch(target, merge_patch)
    if media_type == STRATEGIC_MERGE_PATCH:
        return apply_strategic_merge_patch(target, _decode_json(patch_body), kind)
    if media_type == APPLY_PATCH:
        return apply_configuration(target, _decode_apply_yaml(patch_body), kind)
    raise errors.UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(PATCH_CONTENT_TYPES)
    )


def apply_merge_patch(target: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces.

    The patch must be an object (Kubernetes answers "Invalid JSON Patch" otherwise). Neither
    input is changed.
    """
    if not isinstance(patch, Mapping):
        raise errors.BadRequest("Invalid JSON Patch")
    merged = _merged(strategic.copy_json(target), patch)
    assert isinstance(merged, dict)
    return merged


def _merged(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return strategic.copy_json(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merged(result.get(key), value)
    return result


def apply_json_patch(target: Mapping[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 JSON patch.

    A body that is not a list of operation objects is a 400; an operation that cannot be
    applied (a failed `test`, a missing path, an unknown `op`) is Kubernetes' 422. Neither
    input is changed.
    """
    if not isinstance(operations, list):
        raise errors.BadRequest(
            f"json: cannot unmarshal {strategic.json_type(operations)} into Go value of type "
            "jsonpatch.Patch"
        )
    for operation in operations:
        if not isinstance(operation, Mapping):
            raise errors.BadRequest(
                f"json: cannot unmarshal {strategic.json_type(operation)} into Go value of type "
                "jsonpatch.Operation"
            )
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.RequestEntityTooLarge(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}"
        )
    patched: Any = strategic.copy_json(target)
    for operation in operations:
        try:
            # One operation at a time, so a failure can name the operation that failed.
            step = jsonpatch.JsonPatch([strategic.copy_json(operation)])
            patched = step.apply(patched, in_place=True)
        except jsonpatch.JsonPatchTestFailed as e:
            path = operation.get("path")
            raise strategic.rejected_patch(f"testing value {path} failed: test failed") from e
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as e:
            raise strategic.rejected_patch(_missing_path(operation, e)) from e
        except jsonpatch.JsonPatchException as e:
            raise strategic.rejected_patch(str(e)) from e
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            # How the library meets operations of the wrong shape, e.g. a numeric "path".
            raise strategic.rejected_patch(f"invalid operation {_show(operation)}: {e}") from e
    if not isinstance(patched, dict):
        raise strategic.rejected_patch("the patched document is not a JSON object")
    return patched


def _missing_path(operation: Mapping[str, Any], error: Exception) -> str:
    """Word a failed lookup like Kubernetes' JSON patch library does."""
    if isinstance(error, jsonpointer.JsonPointerException) and "must start with" in str(error):
        return str(error)  # not a lookup at all: a malformed pointer
    op = operation.get("op")
    if op in ("move", "copy"):
        return f"{op} operation does not apply: doc is missing from path: {operation.get('from')}"
    path = operation.get("path")
    return f"{op} operation does not apply: doc is missing path: {path}: missing value"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def apply_strategic_merge_patch(target: Mapping[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Kubernetes' strategic merge patch, the subset described in `minik8s.api.patch.strategic`."""
    return strategic.apply_strategic_merge_patch(target, patch, kind)


def decode_apply_configuration(body: bytes) -> dict[str, Any]:
    """The body of an apply patch: one YAML (or JSON) object; 400 otherwise."""
    applied = _decode_apply_yaml(body)
    if not isinstance(applied, Mapping):
        raise errors.BadRequest(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
            f"unmarshal {strategic.json_type(applied)} into Go value of type {strategic.GO_MAP}"
        )
    metadata = applied.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise errors.BadRequest(
            "error decoding YAML: json: cannot unmarshal "
            f"{strategic.json_type(metadata)} into Go struct field .metadata of type "
            "v1.ObjectMeta"
        )
    return dict(applied)


def apply_configuration(target: Mapping[str, Any], applied: Any, kind: str) -> dict[str, Any]:
    """An apply patch of a Scale: `applied` merged onto it (module docstring)."""
    if not isinstance(applied, Mapping):
        raise errors.BadRequest(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
            f"unmarshal {strategic.json_type(applied)} into Go value of type {strategic.GO_MAP}"
        )
    return strategic.apply_strategic_merge_patch(target, applied, kind)


def _decode_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise errors.BadRequest(f"error decoding patch: {e}") from e


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON value {name}")


class _ApplyLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: timestamps stay strings, as they are in JSON."""


_ApplyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _decode_apply_yaml(body: bytes) -> Any:
    try:
        document = yaml.load(body, Loader=_ApplyLoader)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise errors.BadRequest(f"error decoding YAML: {e}") from e
    if document is None:
        raise errors.BadRequest("error decoding YAML: the applied configuration is empty")
    return _json_keys(document)


def _json_keys(value: Any) -> Any:
    """YAML allows keys JSON does not (`on:` is a boolean); turn them into JSON's strings."""
    if isinstance(value, Mapping):
        return {_key_text(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(item) for item in value]
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)
