"""Proxying a request for an extension group version to its server, as kube-aggregator does:
the user the apiserver authenticated goes in `X-Remote-User` / `X-Remote-Group` over a TLS
connection with the front-proxy certificate; the answer streams back unchanged (watches
included). An APIService that is not Available answers 503 "service unavailable"."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from multidict import CIMultiDict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from minik8s.apiserver import requestcontext, wire
from minik8s.apiserver.aggregator import controller, frontproxy
from minik8s.apiserver.authn.user import UserInfo

logger = logging.getLogger(__name__)

REQUEST_HEADERS = ("accept", "content-type", "user-agent", "accept-encoding")
"""What is passed on; Authorization and any X-Remote-* header of the client never are."""
RESPONSE_HEADERS = ("content-type", "content-encoding", "cache-control", "etag", "warning")


def unavailable() -> Response:
    return PlainTextResponse("service unavailable\n", 503)


def split(path: str) -> tuple[str, str] | None:
    """(group, version) of `/apis/<group>/<version>[/...]`, else None."""
    parts = path.split("/", 4)
    if len(parts) >= 4 and parts[1] == "apis" and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


async def forward(request: Request, aggregator: controller.Aggregator) -> Response:
    target = split(request.scope["path"])
    assert target is not None
    served = aggregator.backend_for(*target)
    if served is None or aggregator.session is None:
        return unavailable()
    backend = served.backend
    controller.check_loopback(backend.host)
    user: UserInfo = request.scope.get(requestcontext.SCOPE_USER) or requestcontext.current_user()
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS
    )
    headers[frontproxy.USER_HEADER] = user.name
    for group in user.groups:
        headers.add(frontproxy.GROUP_HEADER, group)
    for key, values in user.extra:
        for value in values:
            headers.add(frontproxy.EXTRA_PREFIX + key, value)
    body = await wire.read_body(request) if request.method not in ("GET", "HEAD") else None
    url = f"https://{backend.host}:{backend.port}{request.scope['path']}"
    query = request.scope.get("query_string", b"").decode("latin-1")
    if query:
        url += "?" + query
    try:
        response = await aggregator.session.request(
            request.method,
            url,
            data=body,
            headers=headers,
            ssl=aggregator.ssl_context(backend),
            server_hostname=backend.server_name,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            auto_decompress=False,
        )
    except (aiohttp.ClientError, OSError) as e:
        logger.warning("proxy to %s failed: %r", url, e)
        return PlainTextResponse(f"Error trying to reach service: {e}\n", 503)
    answer = {k: v for k, v in response.headers.items() if k.lower() in RESPONSE_HEADERS}
    return StreamingResponse(_body(response), status_code=response.status, headers=answer)


async def _body(response: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        response.release()
