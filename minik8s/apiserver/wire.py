"""Reading request bodies and writing responses in the Kubernetes wire format."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from minik8s.api import decoding, errors, protobuf
from minik8s.apiserver.audit import context as audit_context

MAX_BODY_BYTES = 3 * 1024 * 1024
JSON = "application/json"
TABLE_MARKER = "as=Table"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
THREAD_DECODE_BYTES = 64 * 1024
"""Bodies above this size are decoded off the event loop (YAML and protobuf only)."""


def encode(body: Any) -> bytes:
    """JSON as Kubernetes' Go encoder writes it: one object, then a newline."""
    return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(encode(body), status_code=status_code, media_type=JSON)


def error_response(error: errors.ApiError) -> Response:
    response = json_response(error.to_status(), error.code)
    if error.retry_after_seconds:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def deleted_details(group: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What the Status of a completed delete says (Kubernetes' `kind` here is the resource)."""
    metadata = obj.get("metadata") or {}
    details: dict[str, Any] = {"name": metadata.get("name", "")}
    if group:
        details["group"] = group
    details["kind"] = plural
    if metadata.get("uid"):
        details["uid"] = metadata["uid"]
    return details


def success_status(
    details: dict[str, Any] | None = None, code: int | None = None
) -> dict[str, Any]:
    """A `Status` of success: a delete's (details, no code, as the registry writes it) or a
    create's without an object (a Binding: code 201, which the create handler fills in)."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    if details:
        status["details"] = details
    if code:
        status["code"] = code
    return status


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.scope["method"] == "PATCH":
        audit_context.log_request_patch(body)
    return body


async def read_object(request: Request) -> Any:
    """The request's body, decoded by its Content-Type (see `decode_object`)."""
    return await decode_in_bounds(
        await read_body(request), request.headers.get("content-type", JSON)
    )


async def decode_in_bounds(body: bytes, content_type: str | None) -> Any:
    """`decode_object`, from a worker thread when the body is large and its decoder is pure
    Python (YAML, protobuf): the event loop keeps serving while a 3 MiB body decodes."""
    media = _media_type(content_type)
    if len(body) > THREAD_DECODE_BYTES and media != JSON:
        return await asyncio.to_thread(decode_object, body, content_type)
    return decode_object(body, content_type)


def decode_object(body: bytes, content_type: str | None) -> Any:
    """A JSON, YAML or protobuf request body; 400 BadRequest when it does not parse or is
    beyond the limits of `minik8s.api.decoding`. The request's audit event records it
    (Kubernetes' LogRequestObject)."""
    obj = _decode(body, content_type)
    audit_context.log_request_object(obj)
    return obj


def _decode(body: bytes, content_type: str | None) -> Any:
    if not body.strip():
        raise errors.BadRequest("the body of the request was empty")
    media = _media_type(content_type)
    if media == protobuf.MEDIA_TYPE:
        try:
            return protobuf.decode(body)
        except protobuf.DecodeError as e:
            raise errors.BadRequest(f"error decoding protobuf: {e}") from e
    if media in YAML_TYPES:
        try:
            return decoding.decode_yaml(body)
        except decoding.DecodeError as e:
            raise errors.BadRequest(f"error decoding YAML: {e}") from e
    if media not in (JSON, "*/*", "application/*", ""):
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f'application/json, application/yaml (got "{media}")'
        )
    try:
        return decoding.decode_json(body)
    except decoding.DecodeError as e:
        raise errors.BadRequest(f"couldn't get version/kind; json parse error: {e}") from e


def _media_type(content_type: str | None) -> str:
    return (content_type or JSON).split(";")[0].strip().lower()


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a `meta.k8s.io` Table (v1 or v1beta1), as
    `kubectl get` does: `application/json;as=Table;v=v1;g=meta.k8s.io,application/json`."""
    if not accept or TABLE_MARKER not in accept:  # the common case, on every request
        return False
    for media_range in accept.split(","):
        params = dict(
            part.strip().split("=", 1) for part in media_range.split(";")[1:] if "=" in part
        )
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
    return False


def request_wants_table(request: Request) -> bool:
    return wants_table(request.headers.get("accept"))


def table_include_object(request: Request) -> str:
    return request.query_params.get("includeObject") or "Metadata"
