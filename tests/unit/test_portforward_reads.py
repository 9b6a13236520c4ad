"""The kubelet's reads of a pod's socket: one shared buffer, handed on as a view, renewed when
the client's transport may still hold part of it."""

from __future__ import annotations

import asyncio
from typing import Any

from minik8s.kubelet.streaming import portforward
from minik8s.kubelet.streaming.portforward import PodSide


class _Client:
    """What PodSide needs of the client's RawConnection."""

    def __init__(self) -> None:
        self.transport = self
        self.buffered = 0
        self.on_pause_writing: list[Any] = []
        self.on_resume_writing: list[Any] = []
        self.writing_paused = False

    def get_write_buffer_size(self) -> int:
        return self.buffered


def _side(sent: list[bytes], client: _Client) -> PodSide:
    return PodSide(lambda data: sent.append(bytes(data)), client)  # type: ignore[arg-type]


def test_reads_are_buffered_protocol_reads_of_a_large_buffer() -> None:
    async def run() -> None:
        side = _side([], _Client())
        assert isinstance(side, asyncio.BufferedProtocol)
        assert not isinstance(side, asyncio.Protocol)  # else uvloop calls data_received
        assert len(side.get_buffer(-1)) == portforward.READ_SIZE >= 1 << 20

    asyncio.run(run())


def test_a_read_is_sent_as_it_was_read_and_the_buffer_is_reused() -> None:
    async def run() -> None:
        sent: list[bytes] = []
        side = _side(sent, _Client())
        first = side.get_buffer(-1)
        first[:5] = b"hello"
        side.buffer_updated(5)
        assert sent == [b"hello"]
        assert side.get_buffer(-1) is first

    asyncio.run(run())


def test_a_transport_that_keeps_data_gets_a_fresh_buffer_next() -> None:
    async def run() -> None:
        sent: list[bytes] = []
        client = _Client()
        side = _side(sent, client)
        first = side.get_buffer(-1)
        first[:3] = b"abc"
        client.buffered = 3  # the transport kept what it could not send yet
        side.buffer_updated(3)
        second = side.get_buffer(-1)
        assert second is not first
        assert bytes(first[:3]) == b"abc"  # never overwritten by the next read

    asyncio.run(run())
