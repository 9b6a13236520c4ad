"""The kubelet's HTTP server does not wake ten times a second while idle (uvicorn's main
loop does), keeps a current Date header and still stops at once."""

import asyncio
import time

import httpx

from minik8s.componentbase.httpserving import ComponentServer
from minik8s.kubelet.httpserver import KubeletServer
from minik8s.kubelet.runtime.fake import FakeRuntime


async def test_idle_server_ticks_once_a_second_and_stops_at_once(monkeypatch) -> None:
    ticks: list[float] = []
    on_tick = ComponentServer.on_tick

    async def counting(self: ComponentServer, counter: int) -> bool:
        ticks.append(time.monotonic())
        return await on_tick(self, counter)

    monkeypatch.setattr(ComponentServer, "on_tick", counting)
    server = KubeletServer(FakeRuntime(), "n1", "127.0.0.1", 0, list)
    port = await server.start()
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert r.status_code == 200 and r.headers["date"].endswith(" GMT")
        began = time.monotonic()
        await asyncio.sleep(0.55)  # uvicorn's own loop would tick 5-6 times in this window
        assert len([t for t in ticks if t >= began]) <= 1, ticks
    finally:
        stopping = time.monotonic()
        await server.stop()
    assert time.monotonic() - stopping < 0.9  # woken by the stop, not by the next tick
