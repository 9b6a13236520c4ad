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
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from minik8s.api import decoding, errors
from minik8s.api.patch import strategic

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_CONTENT_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
"""In the order Kubernetes lists them for built-in kinds."""

MAX_JSON_PATCH_OPERATIONS = 10_000
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024
"""What `copy` operations may add in all (as JSON): each copy can double the document."""


@dataclass(frozen=True)
class DecodedPatch:
    """A PATCH body parsed once (bounded, see `minik8s.api.decoding`), applied per attempt."""

    media_type: str
    document: Any


def decode_patch(patch_body: bytes, content_type: str) -> DecodedPatch:
    """Parse a PATCH request body of `content_type`: 400 when it does not parse, 415 for an
    unknown patch type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in (JSON_PATCH, STRATEGIC_MERGE_PATCH):
        return DecodedPatch(media_type, _decode_json(patch_body))
    if media_type == MERGE_PATCH:
        try:
            return DecodedPatch(media_type, _decode_json(patch_body))
        except errors.BadRequest as e:
            raise errors.BadRequest("Invalid JSON Patch") from e
    if media_type == APPLY_PATCH:
        return DecodedPatch(media_type, _decode_apply_yaml(patch_body))
    raise errors.UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(PATCH_CONTENT_TYPES)
    )


def apply_decoded(target: Mapping[str, Any], patch: DecodedPatch, kind: str) -> dict[str, Any]:
    """Apply a decoded PATCH body to `target`, a `kind` object (422 when it cannot apply)."""
    if patch.media_type == JSON_PATCH:
        result = apply_json_patch(target, patch.document)
    elif patch.media_type == MERGE_PATCH:
        result = apply_merge_patch(target, patch.document)
    elif patch.media_type == STRATEGIC_MERGE_PATCH:
        result = apply_strategic_merge_patch(target, patch.document, kind)
    else:
        result = apply_configuration(target, patch.document, kind)
    try:  # e.g. JSON patch moves that push a subtree deeper, one level per operation
        decoding.check_depth(result)
    except decoding.DecodeError as e:
        raise strategic.rejected_patch(f"the patched object: {e}") from e
    return result


def apply_patch(
    target: Mapping[str, Any], patch_body: bytes, content_type: str, kind: str
) -> dict[str, Any]:
    """Apply a PATCH request body of `content_type` to `target`, a `kind` object."""
    return apply_decoded(target, decode_patch(patch_body, content_type), kind)


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
    copied = 0
    for operation in operations:
        if operation.get("op") == "copy":
            copied += _copy_size(patched, operation)
            if copied > MAX_JSON_PATCH_COPY_BYTES:
                raise errors.RequestEntityTooLarge(
                    "Unable to complete the copy, the accumulated size increase of copy is "
                    f"{copied}, exceeding the limit {MAX_JSON_PATCH_COPY_BYTES}"
                )
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


def _copy_size(document: Any, operation: Mapping[str, Any]) -> int:
    """The JSON size of what a `copy` operation duplicates (0 when `from` does not resolve:
    the operation itself then fails with its own message)."""
    source = operation.get("from")
    if not isinstance(source, str):
        return 0
    try:
        value = jsonpointer.resolve_pointer(document, source)
    except (jsonpointer.JsonPointerException, TypeError, KeyError, IndexError):
        return 0
    try:
        decoding.check_depth(value)
        return len(orjson.dumps(value))
    except (decoding.DecodeError, TypeError) as e:  # TypeError: orjson's own depth limit
        raise strategic.rejected_patch(f"copy from {source}: {e}") from e


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
    return check_apply_configuration(_decode_apply_yaml(body))


def check_apply_configuration(applied: Any) -> dict[str, Any]:
    """A decoded apply patch: one object with an object as metadata; 400 otherwise."""
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
        return decoding.decode_json(body)
    except decoding.DecodeError as e:
        raise errors.BadRequest(f"error decoding patch: {e}") from e


def _decode_apply_yaml(body: bytes) -> Any:
    try:
        document = decoding.decode_yaml(body)
    except decoding.DecodeError as e:
        raise errors.BadRequest(f"error decoding YAML: {e}") from e
    if document is None:
        raise errors.BadRequest("error decoding YAML: the applied configuration is empty")
    return document
