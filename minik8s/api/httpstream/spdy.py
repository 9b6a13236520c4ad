"""SPDY/3.1 framing (pure): the multiplexing under `kubectl port-forward` and SPDY exec/attach.

Kubernetes' streaming (client-go's `transport/spdy`, apimachinery's `httpstream/spdy`, moby's
spdystream) speaks SPDY/3.1 after an HTTP/1.1 `Upgrade: SPDY/3.1`, or inside a WebSocket
(`SPDY/3.1+portforward.k8s.io`). This module encodes and decodes its frames; the connection
logic (streams, replies, pings) lives in `minik8s.client.httpstream.spdyconn`.

Frames (big endian; draft-mbelshe-httpbis-spdy-00, "SPDY Protocol - Draft 3.1"):

    control: 1 | version (15) = 3 | type (16) | flags (8) | length (24) | payload
    data:    0 | stream id (31)               | flags (8) | length (24) | payload

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are `count (32) {name len (32) name value len
(32) value}`, several values of one name NUL-separated, compressed with zlib using the
dictionary of the specification, one compression context per direction for the whole
connection (each block ends with a sync flush).

No PyPI library fits: `spdy-py` (2021, one release) only reads frames, misreads the flags and
keeps one value per header; `python-spdylay` binds a C library last released in 2012.

Flow control (WINDOW_UPDATE, SETTINGS) is decoded but means nothing to the connection: Go's
spdystream, the other end of every Kubernetes stream, neither sends nor honours it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION = 1, 2, 3, 4
CANCEL, INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE = 5, 6, 7, 8
STREAM_ALREADY_CLOSED = 9
# GOAWAY status codes
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2

MAX_FRAME_LENGTH = 0xFFFFFF
"""The 24-bit length field's limit: longer data is split over several frames."""
MAX_CONTROL_LENGTH = 1 << 20
"""Control frames above 1 MiB are refused (a header block is a few hundred bytes)."""
MAX_HEADER_BLOCK = 1 << 20
"""A decompressed header block above 1 MiB is refused (no zlib bomb grows past it)."""
MAX_HEADER_PAIRS = 1024

_HEADER_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
).split()
_HEADER_WORDS += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive"]
_HEADER_WORDS += ["origin"]
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, "
    "Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
    "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode() for w in _HEADER_WORDS)
    + _DICTIONARY_TAIL.encode()
)
"""The zlib dictionary of SPDY/3 header blocks, built as the specification lays it out: each
common header word with its 32-bit length, then a run of common values (1 423 bytes)."""

Headers = dict[str, list[str]]

_CONTROL = struct.Struct(">HHI")
_DATA = struct.Struct(">II")
_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")


class ProtocolError(Exception):
    """The peer sent something SPDY/3.1 does not allow: the connection must end."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_id: int = 0
    priority: int = 0


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)
    """(flags, id, value) triples."""
    flags: int = 0


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Data:
    """Data for a stream: a whole data frame or, while one arrives, a piece of it (`fin` only
    on the last piece of a frame that carries FLAG_FIN)."""

    stream_id: int
    data: bytes
    fin: bool = False


Frame = SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate
Event = Frame | Data


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return _CONTROL.pack(0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_header(stream_id: int, length: int, fin: bool = False) -> bytes:
    """The 8 bytes before `length` bytes of data (which must fit one frame)."""
    return _DATA.pack(stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | length)


class Encoder:
    """Frames from one end of a connection (it owns that direction's zlib context)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zdict=DICTIONARY)

    def header_block(self, headers: Headers) -> bytes:
        parts = [_U32.pack(len(headers))]
        for name, values in headers.items():
            key = name.lower().encode("latin-1")
            value = b"\x00".join(v.encode("latin-1") for v in values)
            parts += [_U32.pack(len(key)), key, _U32.pack(len(value)), value]
        raw = b"".join(parts)
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: Headers, fin: bool = False,
                   priority: int = 0) -> bytes:  # fmt: skip
        body = _U32x2.pack(stream_id & 0x7FFFFFFF, 0) + bytes([(priority & 7) << 5, 0])
        return _control(SYN_STREAM, FLAG_FIN if fin else 0, body + self.header_block(headers))

    def syn_reply(self, stream_id: int, headers: Headers | None = None, fin: bool = False) -> bytes:
        return self._stream_headers(SYN_REPLY, stream_id, headers or {}, fin)

    def headers(self, stream_id: int, headers: Headers, fin: bool = False) -> bytes:
        return self._stream_headers(HEADERS, stream_id, headers, fin)

    def _stream_headers(self, kind: int, stream_id: int, headers: Headers, fin: bool) -> bytes:
        """A SYN_REPLY or HEADERS frame: the stream id, then the header block."""
        body = _U32.pack(stream_id & 0x7FFFFFFF) + self.header_block(headers)
        return _control(kind, FLAG_FIN if fin else 0, body)

    @staticmethod
    def rst_stream(stream_id: int, status: int) -> bytes:
        return _control(RST_STREAM, 0, _U32x2.pack(stream_id & 0x7FFFFFFF, status))

    @staticmethod
    def settings(entries: list[tuple[int, int, int]]) -> bytes:
        body = _U32.pack(len(entries)) + b"".join(
            _U32x2.pack(((flags & 0xFF) << 24) | (ident & 0xFFFFFF), value)
            for flags, ident, value in entries
        )
        return _control(SETTINGS, 0, body)

    @staticmethod
    def ping(ping_id: int) -> bytes:
        return _control(PING, 0, _U32.pack(ping_id))

    @staticmethod
    def goaway(last_good_stream_id: int, status: int = GOAWAY_OK) -> bytes:
        return _control(GOAWAY, 0, _U32x2.pack(last_good_stream_id & 0x7FFFFFFF, status))

    @staticmethod
    def window_update(stream_id: int, delta: int) -> bytes:
        return _control(WINDOW_UPDATE, 0, _U32x2.pack(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF))

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> bytes:
        """One or more data frames carrying `data` (FLAG_FIN on the last one)."""
        if len(data) <= MAX_FRAME_LENGTH:
            return data_header(stream_id, len(data), fin) + data
        pieces = [data[i : i + MAX_FRAME_LENGTH] for i in range(0, len(data), MAX_FRAME_LENGTH)]
        return b"".join(
            data_header(stream_id, len(p), fin and i == len(pieces) - 1) + p
            for i, p in enumerate(pieces)
        )


class Decoder:
    """Events from the bytes one end receives, fed in any pieces (it owns the inflate context).

    Data frames are handed on as they arrive, piece by piece, so a large frame is never
    buffered whole; control frames are buffered up to `MAX_CONTROL_LENGTH`.
    """

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._buffer = bytearray()
        self._data_stream = 0
        """The stream of the data frame being received, while `_data_left` > 0."""
        self._data_left = 0
        self._data_fin = False

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        view = memoryview(chunk)
        while view:
            if self._data_left:
                piece = view[: self._data_left]
                view = view[len(piece) :]
                self._data_left -= len(piece)
                fin = self._data_fin and not self._data_left
                events.append(Data(self._data_stream, bytes(piece), fin))
                continue
            self._buffer += view
            view = memoryview(b"")
            events.extend(self._frames())
        return events

    def _frames(self) -> list[Event]:
        events: list[Event] = []
        buffer = self._buffer
        pos = 0
        while len(buffer) - pos >= 8:
            first, second = _U32x2.unpack_from(buffer, pos)
            flags, length = second >> 24, second & 0xFFFFFF
            if not first & 0x80000000:  # a data frame
                stream_id = first & 0x7FFFFFFF
                fin = bool(flags & FLAG_FIN)
                available = min(length, len(buffer) - pos - 8)
                piece = bytes(buffer[pos + 8 : pos + 8 + available])
                pos += 8 + available
                if available < length:  # the rest follows in later chunks
                    self._data_stream, self._data_left, self._data_fin = (
                        stream_id,
                        length - available,
                        fin,
                    )
                    events.append(Data(stream_id, piece, False))
                    break
                events.append(Data(stream_id, piece, fin))
                continue
            version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise ProtocolError(f"unsupported SPDY version {version}")
            if length > MAX_CONTROL_LENGTH:
                raise ProtocolError(f"control frame of {length} bytes is too large")
            if len(buffer) - pos - 8 < length:
                break
            payload = bytes(buffer[pos + 8 : pos + 8 + length])
            pos += 8 + length
            frame = self._control(kind, flags, payload)
            if frame is not None:
                events.append(frame)
        del buffer[:pos]
        return events

    def _control(self, kind: int, flags: int, payload: bytes) -> Frame | None:
        try:
            if kind == SYN_STREAM:
                stream_id, associated = _U32x2.unpack_from(payload)
                priority = payload[8] >> 5
                headers = self._header_block(payload[10:])
                return SynStream(
                    stream_id & 0x7FFFFFFF, headers, flags, associated & 0x7FFFFFFF, priority
                )
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = _U32.unpack_from(payload)
                headers = self._header_block(payload[4:])
                if kind == SYN_REPLY:
                    return SynReply(stream_id & 0x7FFFFFFF, headers, flags)
                return HeadersFrame(stream_id & 0x7FFFFFFF, headers, flags)
            if kind == RST_STREAM:
                stream_id, status = _U32x2.unpack_from(payload)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (count,) = _U32.unpack_from(payload)
                if 4 + 8 * count != len(payload):
                    raise ProtocolError("SETTINGS length does not match its entries")
                entries = []
                for i in range(count):
                    head, value = _U32x2.unpack_from(payload, 4 + 8 * i)
                    entries.append((head >> 24, head & 0xFFFFFF, value))
                return Settings(entries, flags)
            if kind == PING:
                return Ping(_U32.unpack_from(payload)[0])
            if kind == GOAWAY:
                last, status = _U32x2.unpack_from(payload)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                stream_id, delta = _U32x2.unpack_from(payload)
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except (struct.error, IndexError) as e:
            raise ProtocolError(f"control frame of type {kind} is truncated") from e
        return None  # unknown control frames are ignored, as the specification says

    def _header_block(self, compressed: bytes) -> Headers:
        try:
            raw = self._inflate.decompress(compressed, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise ProtocolError(f"header block does not decompress: {e}") from e
        if self._inflate.unconsumed_tail:
            raise ProtocolError("header block is too large")
        try:
            (count,) = _U32.unpack_from(raw)
            if count > MAX_HEADER_PAIRS:
                raise ProtocolError(f"header block has {count} pairs")
            pos = 4
            headers: Headers = {}
            for _ in range(count):
                (size,) = _U32.unpack_from(raw, pos)
                name = raw[pos + 4 : pos + 4 + size].decode("latin-1").lower()
                pos += 4 + size
                (size,) = _U32.unpack_from(raw, pos)
                value = raw[pos + 4 : pos + 4 + size].decode("latin-1")
                pos += 4 + size
                if pos > len(raw):
                    raise ProtocolError("header block is truncated")
                headers.setdefault(name, []).extend(value.split("\x00"))
        except struct.error as e:
            raise ProtocolError("header block is truncated") from e
        return headers


def first(headers: Headers, name: str) -> str:
    """The first value of `name` (lower case), or ""."""
    values = headers.get(name)
    return values[0] if values else ""
