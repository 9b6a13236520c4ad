"""HTTP/1.1 Upgrade requests handed to the application with their raw connection.

ASGI knows WebSockets but not other upgrades (`Upgrade: SPDY/3.1`, which kubectl's exec,
attach and port-forward speak), and a proxy of a WebSocket must not parse it. So, like Go's
`http.Hijacker`, an upgrade request whose path the server chooses (`hijack_paths`) is not
answered by uvicorn: the transport is switched to a `RawConnection`, and the app is called with
an ordinary `http` scope carrying

    scope["extensions"]["minik8s.upgrade"] = Upgrade(connection, upgrade="spdy/3.1", ...)

The app authenticates and authorizes it like any request. To refuse, it sends an ordinary
HTTP response (`send` writes it on the connection, which then closes); to accept, it claims
the connection (`upgrade.claim()`) and writes the `101 Switching Protocols` itself.

    uvicorn.Config(app, http=upgrade.hijacking(lambda path: path.startswith("/exec/")), ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import httptools
import orjson

from minik8s.componentbase import tlspeer

logger = logging.getLogger(__name__)

UPGRADE_EXTENSION = "minik8s.upgrade"
MAX_PENDING = 1 << 20
"""Bytes received before anyone reads them: beyond this, reading pauses."""


class RawConnection(asyncio.Protocol):
    """A byte connection with callbacks: `on_data`, `on_close`, and writes with flow control.

    Until `consume()` names a reader, received bytes are kept (reading pauses past 1 MiB).
    When the peer stops reading, `pause_writing` callbacks run so producers can stop too.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_data: Callable[[bytes], None] | None = None
        self._on_close: Callable[[], None] | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._reading_paused = False
        self._write_paused = False
        self._drained: asyncio.Event | None = None
        self.on_pause_writing: list[Callable[[], None]] = []
        self.on_resume_writing: list[Callable[[], None]] = []
        self.closed = False
        self._closed_event = asyncio.Event()

    # asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > MAX_PENDING:
            self.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close: nothing here half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._closed_event.set()
        if self._drained is not None:
            self._drained.set()
        callback, self._on_close = self._on_close, None
        if callback is not None:
            callback()

    def pause_writing(self) -> None:
        self._write_paused = True
        for callback in list(self.on_pause_writing):
            callback()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None:
            self._drained.set()
        for callback in list(self.on_resume_writing):
            callback()

    # what users call --------------------------------------------------------------------------
    def consume(self, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """From now on, hand received bytes to `on_data`; call `on_close` when the connection
        ends (at once if it already has)."""
        self._on_data = on_data
        self._on_close = on_close
        pending, self._pending, self._pending_size = self._pending, [], 0
        for chunk in pending:
            on_data(chunk)
        self.resume_reading()
        if self.closed:
            self._on_close = None
            on_close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, parts: list[bytes]) -> None:
        """Write a frame header and its payload without joining them (no copy of the payload
        in Python: a plain transport sends them with one writev)."""
        if self.transport is not None and not self.closed:
            self.transport.writelines(parts)

    @property
    def writing_paused(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        while self._write_paused and not self.closed:
            if self._drained is None:
                self._drained = asyncio.Event()
            self._drained.clear()
            await self._drained.wait()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = True
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


class Upgrade:
    """An upgrade request's connection, for the app to claim (see the module's docstring)."""

    def __init__(self, connection: RawConnection, upgrade: str) -> None:
        self.connection = connection
        self.upgrade = upgrade
        """The `Upgrade` header, lower case: `websocket`, `spdy/3.1`."""
        self.claimed = False

    def claim(self) -> RawConnection:
        self.claimed = True
        return self.connection


def upgrade_of(scope: Any) -> Upgrade | None:
    extensions = scope.get("extensions")
    return extensions.get(UPGRADE_EXTENSION) if extensions else None


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond_json(connection: RawConnection, status: int, body: dict[str, Any]) -> None:
    """A plain JSON response on a claimed connection (a refused upgrade), then close."""
    data = orjson.dumps(body)
    head = response_head(
        status,
        [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            ("connection", "close"),
        ],
    )
    connection.write(head + data)
    connection.close()


def hijacking(hijack_paths: Callable[[str], bool]) -> type[tlspeer.PeerCertHttpProtocol]:
    """An httptools protocol (with the client certificate in the scope) that hands upgrade
    requests for paths where `hijack_paths(path)` to the app with their raw connection."""

    class HijackingHttpProtocol(tlspeer.PeerCertHttpProtocol):
        _hijack = False
        _upgrade_value = ""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._hijack = False

        def on_headers_complete(self) -> None:
            upgrade = self._get_upgrade() if self.parser.should_upgrade() else None
            if upgrade is not None:
                parsed = httptools.parse_url(self.url)
                path = parsed.path.decode("ascii")
                if "%" in path:
                    path = urllib.parse.unquote(path)
                if hijack_paths(path):
                    self._hijack = True
                    self._upgrade_value = upgrade.decode("latin-1")
                    scope: Any = self.scope
                    scope["method"] = self.parser.get_method().decode("ascii")
                    scope["path"] = self.root_path + path
                    scope["raw_path"] = self.root_path.encode("ascii") + parsed.path
                    scope["query_string"] = parsed.query or b""
                    return
            super().on_headers_complete()

        def _should_upgrade(self) -> bool:
            return self._hijack or super()._should_upgrade()

        def data_received(self, data: bytes) -> None:
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            except httptools.HttpParserUpgrade as e:
                if self._hijack:
                    self._take_over(data[e.args[0] :] if e.args else b"")
                elif self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()

        def _take_over(self, rest: bytes) -> None:
            self.connections.discard(self)
            connection = RawConnection()
            self.transport.set_protocol(connection)
            connection.connection_made(self.transport)
            if rest:
                connection.data_received(rest)
            scope: Any = self.scope
            upgrade = Upgrade(connection, self._upgrade_value)
            scope.setdefault("extensions", {})[UPGRADE_EXTENSION] = upgrade
            task = self.loop.create_task(_run(self.app, scope, upgrade))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    return HijackingHttpProtocol


async def _run(app: Any, scope: Any, upgrade: Upgrade) -> None:
    """Call the app for a hijacked request; `send` writes a plain response and closes."""
    connection = upgrade.connection
    received = False
    head: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await connection.wait_closed()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if upgrade.claimed:
            raise RuntimeError("the connection was claimed: send nothing through ASGI")
        if message["type"] == "http.response.start":
            headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.lower() != b"connection"
            ]
            head.append(response_head(message["status"], [*headers, ("connection", "close")]))
        elif message["type"] == "http.response.body":
            connection.write(b"".join(head) + message.get("body", b""))
            head.clear()
            if not message.get("more_body"):
                connection.close()

    try:
        await app(scope, receive, send)
    except Exception:
        logger.exception("upgrade request %s failed", scope.get("path"))
        connection.abort()
    finally:
        if not upgrade.claimed:
            connection.close()
