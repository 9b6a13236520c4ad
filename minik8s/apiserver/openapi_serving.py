"""Serving the OpenAPI documents from bytes encoded once, as kube-openapi's handlers do.

Each document (the v3 index, one v3 document per group version, v2 as JSON and as protobuf)
is encoded at start-up with its ETag (the SHA-512 of its bytes, upper-case hex, quoted) and,
for the large ones, a gzip copy. A request costs a dictionary lookup:

- `If-None-Match` with the current ETag: 304, no body;
- `/openapi/v3/<gv>?hash=<etag>`: `Cache-Control: public, immutable` and an `Expires` a year
  away (clients cache by URL); a stale hash is a 301 to the current URL;
- `Accept` picks JSON or protobuf (v2); an unacceptable type is a 406;
- `Accept-Encoding: gzip` gets the gzip copy.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from email.utils import formatdate
from time import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from minik8s.api import resources
from minik8s.api.encoding import right_sized
from minik8s.apiserver import openapi, openapi_proto, openapi_v2

JSON = "application/json"
GZIP_MIN_BYTES = 1024
YEAR_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class Encoded:
    body: bytes
    media_type: str
    etag: str
    """Unquoted: the upper-case hex SHA-512 of the body."""
    gzipped: bytes | None = None


def encoded(body: bytes, media_type: str = JSON) -> Encoded:
    body = right_sized(body)  # kept for the process's life
    gzipped = gzip.compress(body, 6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    return Encoded(body, media_type, hashlib.sha512(body).hexdigest().upper(), gzipped)


class Documents:
    """Every OpenAPI document of the served group versions, encoded once."""

    def __init__(self) -> None:
        self.v3: dict[str, Encoded] = {}
        for group, version in resources.group_versions():
            document = openapi.openapi_v3_group_version(group, version)
            if document is not None:
                self.v3[_gv_path(group, version)] = encoded(orjson.dumps(document))
        index = {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={doc.etag}"}
                for path, doc in self.v3.items()
            }
        }
        self.v3_index = encoded(orjson.dumps(index))
        v2 = openapi_v2.document()
        self.v2_json = encoded(orjson.dumps(v2))
        self.v2_proto = encoded(openapi_proto.encode(v2), openapi_proto.MEDIA_TYPE)

    # -- handlers ---------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        return _respond(request, self.v3_index)

    def group_version(self, request: Request, path: str) -> Response | None:
        """`/openapi/v3/<path>`; None when no such group version is served."""
        document = self.v3.get(path.strip("/"))
        if document is None:
            return None
        if not _accepts(request, (JSON,)):
            return Response(status_code=406)
        wanted = request.query_params.get("hash")
        if wanted and wanted != document.etag:
            location = f"/openapi/v3/{path.strip('/')}?hash={document.etag}"
            return Response(status_code=301, headers={"Location": location})
        response = _respond(request, document)
        if wanted:
            response.headers["Cache-Control"] = "public, immutable"
            response.headers["Expires"] = formatdate(time() + YEAR_SECONDS, usegmt=True)
        return response

    def v2(self, request: Request) -> Response:
        accept = request.headers.get("accept") or "*/*"
        for media_range in accept.split(","):
            media = media_range.split(";")[0].strip().lower()
            if media in openapi_proto.ACCEPTED:
                return _respond(request, self.v2_proto)
            if media in (JSON, "application/*", "*/*"):
                return _respond(request, self.v2_json)
        return Response(status_code=406)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _accepts(request: Request, media_types: tuple[str, ...]) -> bool:
    accept = request.headers.get("accept") or "*/*"
    for media_range in accept.split(","):
        media = media_range.split(";")[0].strip().lower()
        if media in ("*/*", "application/*") or media in media_types:
            return True
    return False


def _respond(request: Request, document: Encoded) -> Response:
    etag = f'"{document.etag}"'
    headers: dict[str, Any] = {"ETag": etag, "Vary": "Accept, Accept-Encoding"}
    if etag in _if_none_match(request):
        return Response(status_code=304, headers=headers)
    body = document.body
    if document.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = document.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=document.media_type, headers=headers)


def _if_none_match(request: Request) -> list[str]:
    value = request.headers.get("if-none-match", "")
    return [part.strip().removeprefix("W/") for part in value.split(",") if part.strip()]
