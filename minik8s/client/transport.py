"""The HTTP transport under `ApiClient`: aiohttp, behind a small seam tests can replace.

aiohttp rather than httpx: against the apiserver over TLS, a GET through httpx cost 3.5-4 ms
of client CPU and 2.3 ms through httpx on an aiohttp transport, against 1.0 ms with aiohttp
alone (`bench/client.py`). Every component's requests, Events and status writes pay it.

Transport failures leave this module as `TransportFailure`, which says whether the request
may have reached the server (retrying a POST that did is not safe) and whether TLS failed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import Histogram

from minik8s.client import metrics


class TransportFailure(Exception):
    """The request or its response broke below HTTP (connect, TLS, reset, timeout)."""

    def __init__(
        self,
        message: str,
        *,
        sent: bool,
        timed_out: bool = False,
        tls_error: ssl.SSLError | None = None,
    ) -> None:
        super().__init__(message)
        self.sent = sent
        """Whether any byte of the request may have reached the server."""
        self.timed_out = timed_out
        self.tls_error = tls_error


@dataclass
class Request:
    method: str
    path: str
    """Absolute path on the server, e.g. `/api/v1/pods`."""
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    read_timeout: float | None = None
    """Seconds any one read may wait; None waits forever (watches without timeoutSeconds)."""


class Response:
    """Status, headers and a body read whole (`content`) or as it arrives (`chunks`)."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes = b"",
        stream: AsyncIterator[bytes] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers))
        self.content = content
        self._stream = stream
        self._close = close

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def chunks(self) -> AsyncIterator[bytes]:
        """The body of a streamed response, chunk by chunk as it arrives."""
        if self._stream is None:
            raise RuntimeError("the response was not streamed")
        return self._stream

    async def read(self) -> bytes:
        """Read the rest of a streamed body into `content`."""
        if self._stream is not None:
            self.content += b"".join([chunk async for chunk in self._stream])
            self._stream = None
        return self.content

    async def aclose(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            await close()


class Transport(Protocol):
    async def send(self, request: Request, *, stream: bool) -> Response: ...

    async def aclose(self) -> None: ...


def failure_from(e: BaseException) -> TransportFailure:
    """The `TransportFailure` an aiohttp (or asyncio timeout) exception stands for."""
    detail = str(e) or type(e).__name__
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        return TransportFailure(detail, sent=False, tls_error=_ssl_error(e.certificate_error))
    if isinstance(e, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return TransportFailure(detail, sent=False, tls_error=_ssl_error(e.os_error))
    if isinstance(e, ssl.SSLError):
        return TransportFailure(detail, sent=False, tls_error=e)
    if isinstance(e, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return TransportFailure(detail, sent=False, timed_out=isinstance(e, TimeoutError))
    if isinstance(e, TimeoutError):  # aiohttp's SocketTimeoutError and plain asyncio timeouts
        return TransportFailure(detail, sent=True, timed_out=True)
    if isinstance(e, aiohttp.ClientPayloadError):  # "TransferEncodingError … Not enough data"
        return TransportFailure("the response ended before its last byte (connection closed)",
                                sent=True)  # fmt: skip
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return TransportFailure("the server closed the connection", sent=True)
    return TransportFailure(detail, sent=True)


def _ssl_error(e: BaseException) -> ssl.SSLError:
    return e if isinstance(e, ssl.SSLError) else ssl.SSLError(str(e))


FAILURES = (aiohttp.ClientError, TimeoutError, ssl.SSLError, ConnectionError)


class AiohttpTransport:
    """aiohttp sessions (connection pools) to one server, created on first use (an aiohttp
    session belongs to the event loop it was made in)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | bool,
        connect_timeout: float,
        max_connections: int,
        keepalive_expiry: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        """Two pools: ordinary requests (limited), and streams (watches, logs)."""
        self._abandoned: set[asyncio.Future[aiohttp.ClientResponse]] = set()
        self._host = urllib.parse.urlsplit(self.base_url).netloc
        self._latencies: dict[str, Histogram] = {}

    def _session_now(self, stream: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(stream)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=0 if stream else self._max_connections,  # 0: a connection per stream
                keepalive_timeout=self._keepalive_expiry,
                ssl=self._ssl if self.base_url.startswith("https") else False,
            )
            session = self._sessions[stream] = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
                trace_configs=None if stream else [metrics.connection_tracing()],
            )
        return session

    async def send(self, request: Request, *, stream: bool) -> Response:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._connect_timeout, sock_read=request.read_timeout
        )
        started = time.perf_counter()
        sending = asyncio.ensure_future(
            self._session_now(stream).request(
                request.method,
                self.base_url + request.path,
                params=request.params or None,
                data=request.body,
                headers=request.headers or None,
                timeout=timeout,
                allow_redirects=False,
            )
        )
        try:
            # Shielded: a request cancelled halfway (a watch given up while it connects) can
            # leave a connection no pool owns; this one finishes and its response is closed
            # (`aclose` waits for such leftovers before closing the pools).
            raw = await asyncio.shield(sending)
        except asyncio.CancelledError:
            self._abandoned.add(sending)
            sending.add_done_callback(self._abandoned.discard)
            sending.add_done_callback(_close_response)
            raise
        except FAILURES as e:
            raise failure_from(e) from e
        if not stream:
            try:
                content = await raw.read()
            except BaseException as e:
                _drop(raw)
                if isinstance(e, FAILURES):
                    raise failure_from(e) from e
                raise
            raw.release()
            self._latency(request.method).observe(time.perf_counter() - started)
            return Response(raw.status, raw.headers, content)
        return Response(raw.status, raw.headers, stream=_chunks(raw), close=_closer(raw))

    def _latency(self, verb: str) -> Histogram:
        child = self._latencies.get(verb)
        if child is None:
            child = self._latencies[verb] = metrics.REQUEST_LATENCY.labels(verb, self._host)
        return child

    async def reset(self, ssl_context: ssl.SSLContext | bool) -> None:
        """Use new TLS settings (a rotated client certificate) from now on: every connection
        made with the old ones is dropped, so requests in flight fail and are retried, and
        watches end and resume, as client-go's rotating transport does."""
        self._ssl = ssl_context
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()

    async def aclose(self) -> None:
        if self._abandoned:
            await asyncio.wait(list(self._abandoned), timeout=self._connect_timeout)
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()


def _close_response(sending: asyncio.Future[aiohttp.ClientResponse]) -> None:
    if not sending.cancelled() and sending.exception() is None:
        _drop(sending.result())


def _drop(raw: aiohttp.ClientResponse) -> None:
    connection = raw.connection
    if connection is not None and connection.protocol is not None:
        connection.protocol.abort()
    raw.close()


async def _chunks(raw: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in raw.content.iter_any():
            yield chunk
    except FAILURES as e:
        raise failure_from(e) from e


def _closer(raw: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        # A half-read stream cannot be reused: drop the connection. Aborted, not closed: a TLS
        # close waits for the server's close_notify, and a process ending meanwhile (minikctl
        # after a watch) would leave the socket unclosed.
        _drop(raw)
        await asyncio.sleep(0)  # the transport's connection_lost closes the socket

    return close
