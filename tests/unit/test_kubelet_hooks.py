"""Lifecycle hook handlers (`kubelet/hooks.py`): httpGet against a loopback server, sleep, and
handlers that are not lifecycle handlers."""

from __future__ import annotations

import asyncio

import pytest

from minik8s.kubelet import hooks

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}


async def serve_once(seen: list[bytes]) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_an_http_hook_sends_its_get_and_any_answer_is_success() -> None:
    async def run() -> list[bytes]:
        seen: list[bytes] = []
        server, port = await serve_once(seen)
        runner = hooks.HookRunner(runtime=None)  # type: ignore[arg-type]  # exec is not used
        container = {"name": "c", "ports": [{"name": "web", "containerPort": port}]}
        handler = {"httpGet": {"path": "/stop?now=1", "port": "web", "scheme": "HTTP",
                               "httpHeaders": [{"name": "X-Why", "value": "bye"}]}}  # fmt: skip
        try:
            await runner.run(POD, container, "id", handler, "127.0.0.1")
        finally:
            await runner.close()
            server.close()
        return seen

    request = asyncio.run(run())[0].decode()
    assert request.startswith("GET /stop?now=1 HTTP/1.1\r\n")
    assert "user-agent: kube-lifecycle/1.32" in request.lower()
    assert "x-why: bye" in request.lower()


def test_an_http_hook_that_gets_no_answer_fails_with_kubernetes_message() -> None:
    async def run() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()  # nothing listens there any more
        runner = hooks.HookRunner(runtime=None)  # type: ignore[arg-type]  # exec is not used
        try:
            await runner.run(POD, {"name": "c"}, "id", {"httpGet": {"port": port, "path": "/x"}},
                             "127.0.0.1")  # fmt: skip
        finally:
            await runner.close()

    with pytest.raises(hooks.HookError, match=r'HTTP lifecycle hook \(/x\) for Container "c" in '
                                              r'Pod "p_ns\(u\)" failed'):  # fmt: skip
        asyncio.run(run())


def test_sleep_and_tcp_socket_handlers() -> None:
    async def run(handler: dict) -> None:
        runner = hooks.HookRunner(runtime=None)  # type: ignore[arg-type]  # exec is not used
        try:
            await runner.run(POD, {"name": "c"}, "id", handler, "127.0.0.1")
        finally:
            await runner.close()

    asyncio.run(run({"sleep": {"seconds": 0}}))
    with pytest.raises(hooks.HookError, match="tcpSocket is not a lifecycle handler"):
        asyncio.run(run({"tcpSocket": {"port": 80}}))
