"""exec and attach: the client's streams (SPDY or WebSocket channels) joined to a runtime
session (a `docker exec` or `docker attach`), with stdin, TTY resizes and the final Status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from minik8s.api.httpstream import protocols
from minik8s.api.httpstream.protocols import CHANNELS
from minik8s.client import tasks
from minik8s.client.httpstream.spdyconn import SpdyConnection, Stream
from minik8s.componentbase.upgrade import RawConnection
from minik8s.kubelet.runtime import ExecSession, RuntimeError_
from minik8s.kubelet.streaming import handshake
from minik8s.kubelet.streaming.handshake import HandshakeError
from minik8s.kubelet.streaming.websocket import WebSocketSession

logger = logging.getLogger(__name__)

STREAM_CREATION_TIMEOUT = 30.0
"""How long the client has to open every stream it asked for (Kubernetes' default)."""
STDIN_HIGH_WATER = 1 << 20
"""Stdin bytes queued for the container beyond which the client's connection pauses."""


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


@dataclass(frozen=True)
class Options:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    command: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Any, attach: bool) -> Options:
        """As the kubelet reads them: TTY implies no separate stderr; one stream at least."""
        tty = _flag(query.get("tty"))
        stdin, stdout = _flag(query.get("stdin")), _flag(query.get("stdout"))
        stderr = _flag(query.get("stderr")) and not tty
        if not (stdin or stdout or stderr):
            raise HandshakeError(400, "you must specify at least 1 of stdin, stdout, stderr")
        command = tuple(query.getlist("command"))
        if not attach and not command:
            raise HandshakeError(400, "you must specify at least one command for the container")
        return cls(stdin, stdout, stderr, tty, command)

    @property
    def expected_streams(self) -> int:
        return 1 + self.stdin + self.stdout + self.stderr + self.tty


class Streams(Protocol):
    """Where a session's output goes, whatever the wire protocol."""

    connection: RawConnection

    def out(self, channel: int, data: bytes) -> None: ...

    def finish(self, status: dict[str, Any]) -> None: ...


class Inputs:
    """What arrives from the client, in order: stdin bytes, stdin's end, terminal sizes."""

    def __init__(self, connection: RawConnection) -> None:
        self.connection = connection
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.queued = 0
        self.resizes = protocols.ResizeDecoder()
        self.gone = asyncio.Event()

    def stdin(self, data: bytes) -> None:
        self.queue.put_nowait(("stdin", data))
        self.queued += len(data)
        if self.queued > STDIN_HIGH_WATER:
            self.connection.pause_reading()

    def stdin_closed(self) -> None:
        self.queue.put_nowait(("eof", None))

    def resize(self, data: bytes) -> None:
        for size in self.resizes.feed(data):
            self.queue.put_nowait(("resize", size))

    async def pump(self, session: ExecSession) -> None:
        """Hand the inputs to the session, one at a time, in order."""
        while True:
            kind, value = await self.queue.get()
            if kind == "stdin":
                self.queued -= len(value)
                if self.queued < STDIN_HIGH_WATER // 2:
                    self.connection.resume_reading()
                with contextlib.suppress(OSError):
                    await session.write_stdin(value)
            elif kind == "eof":
                await session.close_stdin()
            elif kind == "resize":
                await session.resize(*value)


# --- SPDY ----------------------------------------------------------------------------------


class SpdyStreams:
    def __init__(self, connection: RawConnection, protocol: str, options: Options) -> None:
        self.connection = connection
        self.protocol = protocol
        self.options = options
        self.inputs = Inputs(connection)
        self.streams: dict[str, Stream] = {}
        self.ready = asyncio.Event()
        self.conn = SpdyConnection(connection, server=True, on_stream=self._stream)
        connection.consume(self.conn.feed, self._lost)

    def _lost(self) -> None:
        self.conn.connection_lost()
        self.inputs.gone.set()

    def _stream(self, stream: Stream) -> None:
        kind = stream.header(protocols.STREAM_TYPE)
        if kind not in CHANNELS or kind in self.streams:
            logger.info("exec: unexpected stream type %r", kind)
            stream.reset()
            return
        stream.reply()
        self.streams[kind] = stream
        if kind == protocols.STDIN:
            stream.consume(self.inputs.stdin, self.inputs.stdin_closed)
        elif kind == protocols.RESIZE:
            stream.consume(self.inputs.resize, lambda: None)
        if len(self.streams) >= self.options.expected_streams:
            self.ready.set()

    def out(self, channel: int, data: bytes) -> None:
        kind = protocols.STDERR if channel == 2 else protocols.STDOUT
        stream = self.streams.get(kind) or self.streams.get(protocols.STDOUT)
        if stream is not None:
            stream.write(data)

    def finish(self, status: dict[str, Any]) -> None:
        error = self.streams.get(protocols.ERROR)
        if error is not None:
            error.write(protocols.error_stream_bytes(self.protocol, status))
        for stream in self.streams.values():
            stream.close()
        self.conn.go_away()


# --- WebSocket channels --------------------------------------------------------------------


class ChannelStreams:
    def __init__(self, ws: WebSocketSession, protocol: str) -> None:
        self.ws = ws
        self.connection = ws.connection
        self.protocol = protocol
        self.inputs = Inputs(ws.connection)
        self._channel = -1
        ws.start(self._frame, self.inputs.gone.set)

    def _frame(self, data: bytes, start: bool) -> None:
        if start:
            if not data:
                return
            self._channel, data = data[0], data[1:]
        channel = self._channel
        if channel == CHANNELS[protocols.STDIN]:
            if data:
                self.inputs.stdin(data)
        elif channel == CHANNELS[protocols.RESIZE]:
            self.inputs.resize(data)
        elif (
            channel == protocols.CLOSE_CHANNEL
            and self.protocol == protocols.REMOTECOMMAND_V5
            and data[:1] == bytes([CHANNELS[protocols.STDIN]])
        ):
            self.inputs.stdin_closed()

    def out(self, channel: int, data: bytes) -> None:
        self.ws.send_parts([bytes([channel]), data])

    def finish(self, status: dict[str, Any]) -> None:
        body = protocols.error_stream_bytes(self.protocol, status)
        if body or self.protocol in (protocols.REMOTECOMMAND_V4, protocols.REMOTECOMMAND_V5):
            self.ws.send(bytes([CHANNELS[protocols.ERROR]]) + body)
        self.ws.close(1000)


# --- serving -------------------------------------------------------------------------------

Starter = Callable[[Options], Awaitable[ExecSession]]


async def serve(scope: Any, connection: RawConnection, options: Options, start: Starter,
                what: str) -> None:  # fmt: skip
    """Upgrade, wait for the client's streams, run the session to its end."""
    streams: SpdyStreams | ChannelStreams
    if handshake.is_spdy(scope):
        protocol = handshake.spdy_accept(scope, connection, protocols.SPDY_REMOTECOMMAND)
        spdy_streams = SpdyStreams(connection, protocol, options)
        try:
            await asyncio.wait_for(spdy_streams.ready.wait(), STREAM_CREATION_TIMEOUT)
        except TimeoutError:
            logger.info("%s: timed out waiting for client to create streams", what)
            spdy_streams.conn.go_away()
            return
        streams = spdy_streams
    elif handshake.is_websocket(scope):
        offered = handshake.websocket_protocols(scope)
        chosen = handshake.websocket_protocol(offered, protocols.WEBSOCKET_REMOTECOMMAND)
        ws = WebSocketSession.accept(scope, connection, chosen)
        streams = ChannelStreams(ws, chosen or protocols.REMOTECOMMAND_V1)
    else:
        raise HandshakeError(400, "Upgrade request required")
    try:
        session = await start(options)
    except RuntimeError_ as e:
        streams.finish(protocols.failure_status(str(e)))
        return
    logger.info("%s started", what)
    await run(streams, streams.inputs, session)


async def run(streams: Streams, inputs: Inputs, session: ExecSession) -> None:
    pump = tasks.spawn(inputs.pump(session), "exec-input")

    async def output() -> None:
        async for channel, data in session.output():
            streams.out(channel, data)
            if streams.connection.writing_paused:
                await streams.connection.drain()
        streams.finish(protocols.exit_status(await session.exit_code()))

    out = tasks.spawn(output(), "exec-output")
    gone = asyncio.ensure_future(inputs.gone.wait())
    try:
        await asyncio.wait({out, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, out, gone):
            task.cancel()
        for task in (pump, out, gone):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await session.close()
        streams.connection.close()
