"""SPDY/3.1 framing, the SPDY connection's stream logic, and the streaming sub-protocols."""

from __future__ import annotations

import asyncio
import hashlib
import zlib

import orjson
import pytest

from minik8s.api.httpstream import protocols, spdy
from minik8s.client.httpstream.spdyconn import SpdyConnection, Stream
from minik8s.kubelet.streaming.websocket import binary_frame_header

SPEC_DICTIONARY_SHA256 = "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"
"""The dictionary of the SPDY/3 specification, 1 423 bytes (as Go's spdy package holds it)."""


def test_the_header_dictionary_is_the_specifications() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == SPEC_DICTIONARY_SHA256


def feed_in_pieces(decoder: spdy.Decoder, data: bytes, size: int) -> list[spdy.Event]:
    events: list[spdy.Event] = []
    for i in range(0, len(data), size):
        events += decoder.feed(data[i : i + size])
    return events


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_frames_round_trip_in_any_pieces(piece: int) -> None:
    encoder, decoder = spdy.Encoder(), spdy.Decoder()
    headers = {"streamtype": ["data"], "port": ["80"], "requestid": ["0"], "x": ["a", "b"]}
    payload = bytes(range(256)) * 400
    wire = (
        encoder.syn_stream(1, headers)
        + encoder.syn_reply(1)
        + encoder.syn_stream(3, {"streamtype": ["error"]}, fin=True)
        + encoder.data(1, payload)
        + encoder.data(1, b"", fin=True)
        + encoder.ping(7)
        + encoder.rst_stream(3, spdy.CANCEL)
        + encoder.settings([(0, 7, 65536)])
        + encoder.window_update(1, 1000)
        + encoder.goaway(3)
    )
    events = feed_in_pieces(decoder, wire, piece)
    controls = [e for e in events if not isinstance(e, spdy.Data)]
    assert controls == [
        spdy.SynStream(1, headers),
        spdy.SynReply(1, {}),
        spdy.SynStream(3, {"streamtype": ["error"]}, flags=spdy.FLAG_FIN),
        spdy.Ping(7),
        spdy.RstStream(3, spdy.CANCEL),
        spdy.Settings([(0, 7, 65536)]),
        spdy.WindowUpdate(1, 1000),
        spdy.GoAway(3),
    ]
    data = [e for e in events if isinstance(e, spdy.Data)]
    assert b"".join(d.data for d in data) == payload
    assert data[-1].fin and not any(d.fin for d in data[:-1])


def test_header_blocks_share_one_compression_context() -> None:
    encoder = spdy.Encoder()
    first = encoder.header_block({"streamtype": ["stdout"]})
    second = encoder.header_block({"streamtype": ["stdout"]})
    assert len(second) < len(first)  # the second refers back to the first
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert inflate.decompress(first).endswith(b"stdout")
    assert inflate.decompress(second).endswith(b"stdout")


def test_bad_input_is_a_protocol_error_in_bounded_memory() -> None:
    with pytest.raises(spdy.ProtocolError, match="version"):
        spdy.Decoder().feed(b"\x80\x02\x00\x01\x00\x00\x00\x00")
    too_large = b"\x80\x03\x00\x01\x00" + (spdy.MAX_CONTROL_LENGTH + 1).to_bytes(3, "big")
    with pytest.raises(spdy.ProtocolError, match="too large"):
        spdy.Decoder().feed(too_large)
    bomb = zlib.compressobj(zdict=spdy.DICTIONARY)
    block = bomb.compress(b"\x00\x00\x00\x01" + b"\x00" * (4 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    frame = b"\x80\x03\x00\x02\x00" + (4 + len(block)).to_bytes(3, "big") + b"\x00\x00\x00\x01"
    with pytest.raises(spdy.ProtocolError, match="header block"):
        spdy.Decoder().feed(frame + block)
    with pytest.raises(spdy.ProtocolError, match="truncated"):
        spdy.Decoder().feed(b"\x80\x03\x00\x03\x00\x00\x00\x02\x00\x00")


def test_resize_messages_in_pieces_and_garbage() -> None:
    decoder = protocols.ResizeDecoder()
    assert decoder.feed(b'{"Width":80,"Hei') == []
    assert decoder.feed(b'ght":24}{"Width":100,"Height":40}') == [(80, 24), (100, 40)]
    assert decoder.feed(b'{"Width":"x"}nonsense{"Width":0,"Height":9}') == []


def test_websocket_binary_frame_headers() -> None:
    assert binary_frame_header(5) == b"\x82\x05"
    assert binary_frame_header(300) == b"\x82\x7e\x01\x2c"
    assert binary_frame_header(1 << 20) == b"\x82\x7f" + (1 << 20).to_bytes(8, "big")


def test_exit_status_and_negotiation() -> None:
    assert protocols.exit_status(0) == {"metadata": {}, "status": "Success"}
    failed = protocols.exit_status(3)
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert orjson.loads(protocols.error_stream_bytes("v4.channel.k8s.io", failed)) == failed
    assert protocols.error_stream_bytes("v2.channel.k8s.io", failed).startswith(b"command")
    assert protocols.negotiate(["v5.channel.k8s.io", "v4.channel.k8s.io"],
                               protocols.WEBSOCKET_PORTFORWARD) == "v4.channel.k8s.io"  # fmt: skip
    assert protocols.parse_ports(["80,443", "8080"]) == [80, 443, 8080]
    with pytest.raises(ValueError, match="must be > 0"):
        protocols.parse_ports(["0"])
    assert protocols.port_bytes(8080) == b"\x90\x1f"


class MemoryPipe:
    """One end of an in-memory byte pipe: writes are fed to the other end's connection."""

    def __init__(self) -> None:
        self.peer: SpdyConnection | None = None
        self.closed = False
        self.paused = 0

    def write(self, data: bytes) -> None:
        assert self.peer is not None
        asyncio.get_running_loop().call_soon(self.peer.feed, data)

    def writelines(self, parts: list[bytes]) -> None:
        self.write(b"".join(parts))

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.paused -= 1


async def test_streams_replies_data_pings_and_go_away() -> None:
    received: list[Stream] = []

    def on_stream(stream: Stream) -> None:
        stream.reply()
        received.append(stream)

    client_pipe, server_pipe = MemoryPipe(), MemoryPipe()
    client = SpdyConnection(client_pipe, server=False)
    server = SpdyConnection(server_pipe, server=True, on_stream=on_stream)
    client_pipe.peer, server_pipe.peer = server, client

    opened = await client.open_stream({"streamtype": ["data"], "port": ["80"]})
    assert opened.id == 1 and received[0].header("port") == "80"
    opened.write(b"hello ")
    opened.write(b"server")
    opened.close()
    assert await received[0].read_all() == b"hello server"
    received[0].write(b"and back")
    received[0].close()
    assert await opened.read_all() == b"and back"
    assert not client.streams and not server.streams  # both halves closed: forgotten

    second = await client.open_stream({"streamtype": ["error"]})
    assert second.id == 3
    received[1].reset()
    await asyncio.sleep(0.01)
    assert second.was_reset and second.remote_closed

    client.ping(1)  # a client's ping (odd) is echoed by the server, which never answers its own
    await asyncio.sleep(0.01)
    client.go_away()
    await asyncio.sleep(0.01)
    assert server.closed.is_set() and server_pipe.closed


async def test_a_stream_nobody_reads_pauses_the_connection() -> None:
    pipe = MemoryPipe()
    server = SpdyConnection(pipe, server=True, on_stream=lambda s: s.reply())
    encoder = spdy.Encoder()
    pipe.peer = SpdyConnection(MemoryPipe(), server=False)
    server.feed(encoder.syn_stream(1, {"streamtype": ["stdin"]}))
    stream = server.streams[1]
    server.feed(encoder.data(1, b"x" * (2 << 20)))
    assert pipe.paused == 1
    assert len(await stream.read()) == 2 << 20
    assert pipe.paused == 0
