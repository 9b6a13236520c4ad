"""`fieldValidation`: what happens to fields a kind does not have, and to integers no Go type
holds, in a request body (create, update, patch, binding, scale).

As in Kubernetes, unknown fields never reach storage: `Ignore` drops them silently, `Warn`
(the server's default) drops them and adds a `Warning` header per field, `Strict` refuses the
request with a 400 naming every one. An integer outside int64 is a 422 whatever the directive.
"""

from __future__ import annotations

from typing import Any

from minik8s.api import errors, fieldschema
from minik8s.api.meta import Object
from minik8s.apiserver import params, warning


def check(
    api_version: str, kind: str, obj: Object, directive: str, *, patched: bool = False
) -> None:
    """Apply `directive` to `obj` (an `api_version` `kind`), pruning unknown fields in place.

    `patched`: the object is the result of a PATCH, whose strict errors Kubernetes words
    without the "cannot be handled" preamble."""
    message = fieldschema.message_for(api_version, kind)
    if message is None:
        return
    findings = fieldschema.inspect(message, obj, prune=directive != params.STRICT)
    if findings.out_of_range:
        name = str((obj.get("metadata") or {}).get("name") or "")
        causes = [
            errors.invalid(path, value, "must be a 64-bit integer")
            for path, value in findings.out_of_range
        ]
        raise errors.invalid_object(kind, name, causes, _group(api_version))
    if not findings.unknown:
        return
    problems = [f'unknown field "{path}"' for path in findings.unknown]
    if directive == params.STRICT:
        detail = "strict decoding error: " + ", ".join(problems)
        if not patched:
            version = api_version.rpartition("/")[2]
            detail = f'{kind} in version "{version}" cannot be handled as a {kind}: {detail}'
        raise errors.BadRequest(detail)
    if directive == params.WARN:
        for problem in problems:
            warning.add(problem)


def check_typed(api_version: str, kind: str, obj: Any, what: str) -> None:
    """A body that only options or a subresource read (DeleteOptions, Binding): 400 when a
    value has the wrong JSON type, as Go's decoding answers; unknown fields are ignored."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the body of the request must be a {what} object")
    message = fieldschema.message_for(api_version or "v1", kind)
    if message is None:
        return
    findings = fieldschema.inspect(message, obj)
    if findings.type_errors:
        raise errors.BadRequest(findings.type_errors[0])
    if findings.out_of_range:
        path, value = findings.out_of_range[0]
        raise errors.invalid_object(
            kind, "", [errors.invalid(path, value, "must be a 64-bit integer")]
        )


def _group(api_version: str) -> str:
    group, _, _ = api_version.rpartition("/")
    return group
