"""An in-memory `Transport` for `ApiClient` unit tests: requests go to a handler, no sockets.

Handlers speak httpx's request/response types (a convenient vocabulary for building answers);
a handler raises `TransportFailure` to stand for a broken connection.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from minik8s.client.transport import Request, Response

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class MockTransport:
    def __init__(self, handler: Handler, base_url: str = "http://apiserver.test") -> None:
        self.handler = handler
        self.base_url = base_url

    async def send(self, request: Request, *, stream: bool) -> Response:
        sent = httpx.Request(
            request.method,
            self.base_url + request.path,
            params=request.params,
            headers=request.headers,
            content=request.body,
        )
        answer = self.handler(sent)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, httpx.Response)
        headers = dict(answer.headers)
        if not stream:
            await answer.aread()
            return Response(answer.status_code, headers, answer.content)
        return Response(answer.status_code, headers, stream=_chunks(answer), close=answer.aclose)

    async def aclose(self) -> None:
        pass


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_raw():
        yield chunk
