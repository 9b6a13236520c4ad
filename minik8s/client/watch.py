"""A watch: newline-delimited `WatchEvent`s read incrementally from a streamed HTTP response.

`WatchStream` is an async iterator and an async context manager; use `async with` when you may
stop before the stream ends, so the connection is released at once. An in-stream `ERROR` event
is raised as the exception its `Status` names (`errors.Expired` for a too-old resourceVersion).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from minik8s.api import errors
from minik8s.client import exceptions
from minik8s.client.closing import AsyncClosing
from minik8s.client.transport import Response, TransportFailure

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})


@dataclass(frozen=True)
class WatchEvent:
    type: str
    """ADDED, MODIFIED, DELETED or BOOKMARK (ERROR events are raised, never returned)."""
    object: dict[str, Any]

    @property
    def resource_version(self) -> str | None:
        rv = (self.object.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None


class LineBuffer:
    """Splits a byte stream into lines, keeping an incomplete last line for the next chunk."""

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            self._partial += chunk
            return []
        if self._partial:  # else split the chunk itself: no copy of a whole event
            self._partial += chunk
            chunk = bytes(self._partial)
        *lines, rest = chunk.split(b"\n")
        self._partial = bytearray(rest)
        return [line for line in lines if line and not line.isspace()]

    def flush(self) -> bytes | None:
        """The unterminated last line, if any, at the end of the stream."""
        rest, self._partial = bytes(self._partial), bytearray()
        return rest if rest.strip() else None


def parse_event(line: bytes) -> WatchEvent:
    """Decode one line; raise the mapped `ApiError` for an ERROR event."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise errors.InternalError(f"malformed watch event: {line[:120]!r}") from e
    if not isinstance(raw, dict) or raw.get("type") not in EVENT_TYPES:
        raise errors.InternalError(f"malformed watch event: {line[:120]!r}")
    obj = raw.get("object")
    if not isinstance(obj, dict):
        raise errors.InternalError(f"watch event without an object: {line[:120]!r}")
    if raw["type"] == "ERROR":
        code = obj.get("code")
        raise errors.from_status(obj, int(code) if isinstance(code, int) else None)
    return WatchEvent(type=str(raw["type"]), object=obj)


class WatchStream(AsyncClosing):
    """The events of one watch request; opened lazily on first iteration."""

    def __init__(
        self, open_response: Callable[[], Awaitable[Response]], server: str, what: str
    ) -> None:
        self._open_response = open_response
        self._server = server
        self._what = what
        self._response: Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._buffer = LineBuffer()
        self._pending: deque[bytes] = deque()
        self._closed = False

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        try:
            line = await self._next_line()
            if line is None:
                await self.aclose()
                raise StopAsyncIteration
            return parse_event(line)
        except errors.ApiError:
            await self.aclose()
            raise

    async def _next_line(self) -> bytes | None:
        if self._chunks is None:
            self._response = await self._open_response()
            self._chunks = self._response.chunks()
        while not self._pending:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return self._buffer.flush()
            except TransportFailure as e:
                raise exceptions.stream_broken(e, self._server, self._what) from e
            self._pending.extend(self._buffer.feed(chunk))
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Release the connection; further iteration ends at once."""
        self._closed = True
        chunks, self._chunks = self._chunks, None
        response, self._response = self._response, None
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            with contextlib.suppress(RuntimeError, TransportFailure):
                await closer()
        if response is not None:
            with contextlib.suppress(TransportFailure):
                await response.aclose()
