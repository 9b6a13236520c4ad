"""`/openapi/v2` as protobuf: the gnostic `openapi.v2.Document` message kubectl asks for.

client-go's `OpenAPISchema()` (kubectl 1.32: client-side apply when `/openapi/v3` lacks a
kind, `explain --output=plaintext-openapiv2`, validation against old servers) sends
`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and decodes the answer
as that message without looking at its Content-Type, so JSON would not do.

A small encoder of protobuf's wire format over the subset of the message the Swagger
document uses; the field numbers are those of gnostic-models' `openapiv2/OpenAPIv2.proto`.
Vendor extensions (`x-kubernetes-*`) travel as `NamedAny` whose `Any.yaml` holds the value
(JSON text, which is YAML), the way gnostic writes them and kube-openapi reads them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import orjson

MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
ACCEPTED = (MEDIA_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")

Encoder = Callable[[Any], bytes]


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _bytes(number: int, data: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(data)) + data


def _string(number: int, text: str) -> bytes:
    return _bytes(number, text.encode()) if text else b""


def _bool(number: int, value: bool) -> bytes:
    return _tag(number, 0) + b"\x01" if value else b""


def _int(number: int, value: int) -> bytes:
    return _tag(number, 0) + _varint(value) if value else b""


def _double(number: int, value: float) -> bytes:
    return _tag(number, 1) + struct.pack("<d", value) if value else b""


def _strings(number: int, values: list[str]) -> bytes:
    return b"".join(_bytes(number, v.encode()) for v in values)


def _any(value: Any) -> bytes:
    """`Any{yaml: ...}` (field 2)."""
    return _string(2, orjson.dumps(value).decode())


def _named_any(name: str, value: Any) -> bytes:
    return _string(1, name) + _bytes(2, _any(value))


def _extensions(number: int, obj: dict[str, Any]) -> bytes:
    return b"".join(_bytes(number, _named_any(k, v)) for k, v in obj.items() if k.startswith("x-"))


# --- Schema ------------------------------------------------------------------------------


def schema(s: dict[str, Any]) -> bytes:
    out = [
        _string(1, s.get("$ref", "")),
        _string(2, s.get("format", "")),
        _string(3, s.get("title", "")),
        _string(4, s.get("description", "")),
    ]
    if "default" in s:
        out.append(_bytes(5, _any(s["default"])))
    for number, key in ((7, "maximum"), (9, "minimum")):
        if key in s:
            out.append(_double(number, float(s[key])))
    for number, key in ((11, "maxLength"), (12, "minLength"), (14, "maxItems"), (15, "minItems")):
        out.append(_int(number, int(s.get(key, 0))))
    out.append(_string(13, s.get("pattern", "")))
    out.append(_strings(19, list(s.get("required", []))))
    for value in s.get("enum", []):
        out.append(_bytes(20, _any(value)))
    additional = s.get("additionalProperties")
    if isinstance(additional, dict):
        out.append(_bytes(21, _bytes(1, schema(additional))))
    elif isinstance(additional, bool):
        out.append(_bytes(21, _tag(2, 0) + (b"\x01" if additional else b"\x00")))
    kind = s.get("type")
    if kind:
        out.append(_bytes(22, _strings(1, kind if isinstance(kind, list) else [kind])))
    items = s.get("items")
    if isinstance(items, dict):
        out.append(_bytes(23, _bytes(1, schema(items))))
    for part in s.get("allOf", []):
        out.append(_bytes(24, schema(part)))
    properties = s.get("properties")
    if properties:
        out.append(
            _bytes(
                25,
                b"".join(
                    _bytes(1, _string(1, name) + _bytes(2, schema(sub)))
                    for name, sub in properties.items()
                ),
            )
        )
    out.append(_bool(27, bool(s.get("readOnly"))))
    out.append(_extensions(31, s))
    return b"".join(out)


# --- operations --------------------------------------------------------------------------


def _parameter(p: dict[str, Any]) -> bytes:
    """`ParametersItem{parameter: Parameter{body | non_body}}`."""
    if p.get("in") == "body":
        body = (
            _string(1, p.get("description", ""))
            + _string(2, p["name"])
            + _string(3, "body")
            + _bool(4, bool(p.get("required")))
            + _bytes(5, schema(p.get("schema", {})))
        )
        return _bytes(1, _bytes(1, body))
    location = p.get("in")
    if location == "path":
        sub = (
            _bool(1, bool(p.get("required")))
            + _string(2, "path")
            + _string(3, p.get("description", ""))
            + _string(4, p["name"])
            + _string(5, p.get("type", ""))
            + _bool(19, bool(p.get("uniqueItems")))
        )
        non_body = _bytes(4, sub)
    else:  # query
        sub = (
            _bool(1, bool(p.get("required")))
            + _string(2, "query")
            + _string(3, p.get("description", ""))
            + _string(4, p["name"])
            + _string(6, p.get("type", ""))
            + _bool(20, bool(p.get("uniqueItems")))
        )
        non_body = _bytes(3, sub)
    return _bytes(1, _bytes(2, non_body))


def _responses(responses: dict[str, Any]) -> bytes:
    out = []
    for code, response in responses.items():
        body = _string(1, response.get("description", ""))
        if "schema" in response:
            body += _bytes(2, _bytes(1, schema(response["schema"])))
        out.append(_bytes(1, _string(1, code) + _bytes(2, _bytes(1, body))))
    return b"".join(out)


def _operation(op: dict[str, Any]) -> bytes:
    return b"".join(
        [
            _strings(1, list(op.get("tags", []))),
            _string(3, op.get("description", "")),
            _string(5, op.get("operationId", "")),
            _strings(6, list(op.get("produces", []))),
            _strings(7, list(op.get("consumes", []))),
            b"".join(_bytes(8, _parameter(p)) for p in op.get("parameters", [])),
            _bytes(9, _responses(op.get("responses", {}))),
            _strings(10, list(op.get("schemes", []))),
            _extensions(13, op),
        ]
    )


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict[str, Any]) -> bytes:
    out = []
    for method, number in _METHODS.items():
        if method in item:
            out.append(_bytes(number, _operation(item[method])))
    for p in item.get("parameters", []):
        out.append(_bytes(9, _parameter(p)))
    return b"".join(out)


# --- the document ------------------------------------------------------------------------


def encode(document: dict[str, Any]) -> bytes:
    """The Swagger 2.0 `document` as a serialized `openapi.v2.Document`."""
    info = document.get("info", {})
    out = [
        _string(1, document.get("swagger", "2.0")),
        _bytes(2, _string(1, info.get("title", "")) + _string(2, info.get("version", ""))),
        _bytes(
            8,
            b"".join(
                _bytes(2, _string(1, path) + _bytes(2, _path_item(item)))
                for path, item in document.get("paths", {}).items()
            ),
        ),
        _bytes(
            9,
            b"".join(
                _bytes(1, _string(1, name) + _bytes(2, schema(s)))
                for name, s in document.get("definitions", {}).items()
            ),
        ),
    ]
    for requirement in document.get("security", []):
        out.append(
            _bytes(
                12,
                b"".join(
                    _bytes(1, _string(1, name) + _bytes(2, _strings(1, list(scopes))))
                    for name, scopes in requirement.items()
                ),
            )
        )
    definitions = document.get("securityDefinitions", {})
    if definitions:
        items = []
        for name, d in definitions.items():
            api_key = (
                _string(1, d.get("type", ""))
                + _string(2, d.get("name", ""))
                + _string(3, d.get("in", ""))
                + _string(4, d.get("description", ""))
            )
            items.append(_bytes(1, _string(1, name) + _bytes(2, _bytes(2, api_key))))
        out.append(_bytes(13, b"".join(items)))
    return b"".join(out)
