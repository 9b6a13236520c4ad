"""A SPDY/3.1 connection over any byte pipe: streams, replies, pings, go-away (asyncio).

The same connection serves a plain upgraded TCP/TLS connection and SPDY tunnelled in a
WebSocket: it is fed the bytes that arrive (`feed`) and writes through a `Pipe` (`write`,
`close`, `pause_reading`, `resume_reading`). It behaves as Go's spdystream, the other end of
every Kubernetes stream: the server replies to each stream the client opens, echoes the
client's pings, closes a stream with an empty FIN data frame, and ignores flow control
(spdystream neither sends WINDOW_UPDATE nor waits for one; back-pressure is TCP's: a consumer
that falls behind pauses the whole connection's reading, as spdystream's blocking reads do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from minik8s.api.httpstream import spdy

logger = logging.getLogger(__name__)

HIGH_WATER = 1 << 20
"""Buffered bytes of a stream nobody reads beyond which the connection stops reading."""


class Pipe(Protocol):
    def write(self, data: bytes) -> None: ...

    def writelines(self, parts: list[bytes]) -> None:
        """The same bytes as `write(b"".join(parts))`, without joining a large payload."""
        ...

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Stream:
    """One SPDY stream: its headers, what arrives on it, what we write to it."""

    def __init__(self, conn: SpdyConnection, stream_id: int, headers: spdy.Headers) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self.on_data: Callable[[bytes], None] | None = None
        """When set, received data goes here instead of the `read()` buffer."""
        self.on_end: Callable[[], None] | None = None
        """Called once when the peer finishes (FIN), resets, or the connection ends."""
        self.remote_closed = False
        self.local_closed = False
        self.was_reset = False
        self.replied = asyncio.get_running_loop().create_future()
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._holds_reading = False

    def header(self, name: str) -> str:
        return spdy.first(self.headers, name)

    # sending ------------------------------------------------------------------------------
    def reply(self) -> None:
        self.conn.send(self.conn.encoder.syn_reply(self.id))

    def write(self, data: bytes) -> None:
        if data and not self.local_closed and not self.was_reset:
            self.conn.send_data(self.id, data)

    def close(self) -> None:
        """Half-close: FIN on an empty data frame (as spdystream's Stream.Close)."""
        if not self.local_closed and not self.was_reset:
            self.local_closed = True
            self.conn.send(spdy.data_header(self.id, 0, fin=True))
            self.conn.forget_if_done(self)

    def reset(self, status: int = spdy.CANCEL) -> None:
        if not self.was_reset:
            self.was_reset = True
            self.local_closed = True
            self.conn.send(spdy.Encoder.rst_stream(self.id, status))
            self._end()
            self.conn.forget(self)

    # receiving ----------------------------------------------------------------------------
    def consume(self, on_data: Callable[[bytes], None], on_end: Callable[[], None]) -> None:
        """From now on hand received data to `on_data` (what was buffered first) and call
        `on_end` when the peer finishes (at once if it has)."""
        while self._buffer:
            data = self._buffer.popleft()
            self._buffered -= len(data)
            on_data(data)
        if self._holds_reading:
            self._holds_reading = False
            self.conn.release_reading()
        self.on_data = on_data
        if self.remote_closed:
            on_end()
        else:
            self.on_end = on_end

    async def read(self) -> bytes:
        """The next bytes received, b"" once the peer has finished."""
        while not self._buffer:
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._buffer.popleft()
        self._buffered -= len(data)
        if self._holds_reading and self._buffered < HIGH_WATER // 2:
            self._holds_reading = False
            self.conn.release_reading()
        return data

    async def read_all(self, limit: int = 1 << 20) -> bytes:
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read():
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
        return b"".join(parts)

    def _deliver(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        self._readable.set()
        if self._buffered > HIGH_WATER and not self._holds_reading:
            self._holds_reading = True
            self.conn.hold_reading()

    def _end(self) -> None:
        if self.remote_closed:
            return
        self.remote_closed = True
        self._readable.set()
        if self._holds_reading:
            self._holds_reading = False
            self.conn.release_reading()
        callback, self.on_end = self.on_end, None
        if callback is not None:
            callback()


class SpdyConnection:
    """Both roles: a server replies to and receives streams; a client opens them."""

    def __init__(
        self,
        pipe: Pipe,
        server: bool,
        on_stream: Callable[[Stream], None] | None = None,
    ) -> None:
        self.pipe = pipe
        self.server = server
        self.on_stream = on_stream
        """Server side: called with each new stream; it replies (`stream.reply()`) or resets."""
        self.encoder = spdy.Encoder()
        self.decoder = spdy.Decoder()
        self.streams: dict[int, Stream] = {}
        self.closed = asyncio.Event()
        self._next_id = 2 if server else 1
        self._last_received = 0
        self._holds = 0
        self._going_away = False

    # bytes in and out ---------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if not self.closed.is_set():
            self.pipe.write(data)

    def send_data(self, stream_id: int, data: bytes) -> None:
        if self.closed.is_set():
            return
        if len(data) <= spdy.MAX_FRAME_LENGTH:
            self.pipe.writelines([spdy.data_header(stream_id, len(data)), data])
        else:
            self.pipe.write(spdy.Encoder.data(stream_id, data))

    def feed(self, chunk: bytes) -> None:
        try:
            events = self.decoder.feed(chunk)
        except spdy.ProtocolError as e:
            logger.info("SPDY protocol error: %s", e)
            self.send(self.encoder.goaway(self._last_received, spdy.GOAWAY_PROTOCOL_ERROR))
            self.close()
            return
        for event in events:
            self._handle(event)

    def _handle(self, event: spdy.Event) -> None:
        if isinstance(event, spdy.Data):
            stream = self.streams.get(event.stream_id)
            if stream is None or stream.remote_closed:
                return  # gone away (spdystream ignores these too)
            if event.data:
                stream._deliver(event.data)
            if event.fin:
                stream._end()
                self.forget_if_done(stream)
        elif isinstance(event, spdy.SynStream):
            self._syn_stream(event)
        elif isinstance(event, spdy.SynReply):
            stream = self.streams.get(event.stream_id)
            if stream is not None and not stream.replied.done():
                stream.replied.set_result(True)
            if stream is not None and event.flags & spdy.FLAG_FIN:
                stream._end()
        elif isinstance(event, spdy.RstStream):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.was_reset = True
                stream.local_closed = True
                if not stream.replied.done():
                    stream.replied.set_exception(ConnectionResetError("stream reset"))
                stream._end()
        elif isinstance(event, spdy.Ping):
            if (event.ping_id & 1) != (0 if self.server else 1):
                self.send(self.encoder.ping(event.ping_id))  # the peer's ping: echo it
        elif isinstance(event, spdy.GoAway):
            self._going_away = True
            self.close()
        # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (see the module's docstring)

    def _syn_stream(self, frame: spdy.SynStream) -> None:
        valid_parity = 1 if self.server else 0
        if (
            frame.stream_id & 1 != valid_parity
            or frame.stream_id <= self._last_received
            or self._going_away
        ):
            self.send(self.encoder.rst_stream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        self._last_received = frame.stream_id
        stream = Stream(self, frame.stream_id, frame.headers)
        stream.replied.set_result(True)
        if frame.flags & spdy.FLAG_UNIDIRECTIONAL:
            stream.local_closed = True
        self.streams[frame.stream_id] = stream
        if frame.flags & spdy.FLAG_FIN:
            stream.remote_closed = True
        if self.on_stream is None:
            stream.reset(spdy.REFUSED_STREAM)
            return
        self.on_stream(stream)

    # streams we open (client side) ------------------------------------------------------------
    async def open_stream(self, headers: spdy.Headers, timeout: float = 30.0) -> Stream:
        stream_id = self._next_id
        self._next_id += 2
        stream = Stream(self, stream_id, headers)
        self.streams[stream_id] = stream
        self.send(self.encoder.syn_stream(stream_id, headers))
        await asyncio.wait_for(asyncio.shield(stream.replied), timeout)
        return stream

    def ping(self, ping_id: int) -> None:
        self.send(self.encoder.ping(ping_id))

    # bookkeeping --------------------------------------------------------------------------
    def forget(self, stream: Stream) -> None:
        self.streams.pop(stream.id, None)

    def forget_if_done(self, stream: Stream) -> None:
        if stream.remote_closed and stream.local_closed:
            self.forget(stream)

    def hold_reading(self) -> None:
        self._holds += 1
        if self._holds == 1:
            self.pipe.pause_reading()

    def release_reading(self) -> None:
        self._holds = max(0, self._holds - 1)
        if self._holds == 0:
            self.pipe.resume_reading()

    def go_away(self) -> None:
        """Tell the peer we are done (GOAWAY), then close."""
        self.send(self.encoder.goaway(self._last_received))
        self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in list(self.streams.values()):
            if not stream.replied.done():
                stream.replied.set_exception(ConnectionResetError("connection closed"))
            stream.local_closed = True
            stream._end()
        self.streams.clear()
        with contextlib.suppress(Exception):
            self.pipe.close()

    def connection_lost(self) -> None:
        """The pipe is gone (called by whoever owns it)."""
        self.close()
