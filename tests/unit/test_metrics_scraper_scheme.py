"""The metrics server's `--kubelet-scheme=auto`: a kubelet that does not speak TLS (hollow
nodes) gets one TLS ClientHello, ever — even when the plain-HTTP scrape that follows fails (a
busy kubelet), the next scrapes go straight to HTTP. Each ClientHello is an "Invalid HTTP
request received." in that kubelet's log."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest

from minik8s import pki
from minik8s.client.kubeconfig import ClientConfig
from minik8s.metricsserver.config import MetricsServerSettings
from minik8s.metricsserver.scraper import Scraper


async def _plain_kubelet(hellos: list[bytes], open_: list[asyncio.StreamWriter]) -> asyncio.Server:
    """A plain-HTTP listener that never answers (a starved kubelet) and records what came in."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_.append(writer)
        first = await reader.read(1)
        hellos.append(first)
        if first == b"\x16":  # a TLS handshake record: answer as uvicorn does, then close
            writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _node(port: int) -> dict[str, object]:
    return {
        "metadata": {"name": "hollow-node-0"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    }


def test_a_kubelet_without_tls_gets_one_client_hello_even_when_scrapes_fail() -> None:
    async def scenario() -> list[bytes]:
        hellos: list[bytes] = []
        open_: list[asyncio.StreamWriter] = []
        server = await _plain_kubelet(hellos, open_)
        port = server.sockets[0].getsockname()[1]
        settings = MetricsServerSettings(kubelet_request_timeout=0.3)
        try:
            async with Scraper(settings, ClientConfig(server="https://127.0.0.1:1")) as scraper:
                for _ in range(3):
                    with pytest.raises(asyncio.TimeoutError):
                        await scraper.scrape(_node(port))
        finally:
            for writer in open_:
                writer.close()
            server.close()
            await server.wait_closed()
        return hellos

    hellos = asyncio.run(scenario())
    assert hellos.count(b"\x16") == 1, f"first bytes of each connection: {hellos}"
    assert len(hellos) == 4, hellos  # the ClientHello, then three plain requests


def test_a_kubelet_still_on_its_self_signed_certificate_is_not_pinned_to_plain_http(
    tmp_path: Path,
) -> None:
    """A kubelet serves a self-signed certificate until the cluster issues its serving one:
    the failed verification is no proof it speaks plain HTTP, so the next scrape is TLS again
    (pinned to HTTP, it would never be scraped once its certificate is issued)."""
    pem = tmp_path / "kubelet.pem"
    pem.write_bytes(pki.self_signed_serving("hollow-node-0", ["127.0.0.1"]))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pem)
    hellos: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: hellos.append(name)  # each ClientHello

    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            settings = MetricsServerSettings(kubelet_request_timeout=2)
            async with Scraper(settings, ClientConfig(server="https://127.0.0.1:1")) as scraper:
                for _ in range(2):
                    with pytest.raises(aiohttp.ClientError):
                        await scraper.scrape(_node(port))
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
    assert len(hellos) == 2, "each scrape began with TLS again"
