"""The exec terminal: the browser's WebSocket bridged to the apiserver's exec WebSocket.

The browser speaks the apiserver's own channel protocol (`v5.channel.k8s.io`: each binary
frame starts with its channel, 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 resize):
frames are relayed as they are, both ways. The dashboard opens the apiserver's side with the
user's credential, so RBAC's `create pods/exec` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from urllib.parse import urlencode

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from minik8s.api import resources
from minik8s.client import tls
from minik8s.client.kubeconfig import ClientConfig

logger = logging.getLogger(__name__)

SUBPROTOCOLS = [Subprotocol("v5.channel.k8s.io"), Subprotocol("v4.channel.k8s.io")]
STATUS = 3


def exec_path(namespace: str, pod: str, container: str | None, command: list[str]) -> str:
    query: list[tuple[str, str]] = [("command", c) for c in command]
    query += [("stdin", "true"), ("stdout", "true"), ("stderr", "true"), ("tty", "true")]
    if container:
        query.append(("container", container))
    return resources.PODS.object_path(namespace, pod) + "/exec?" + urlencode(query)


def status_frame(code: int, message: str) -> bytes:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
              "message": message}  # fmt: skip
    return bytes([STATUS]) + orjson.dumps(status)


async def bridge(browser: WebSocket, config: ClientConfig, path: str) -> None:
    url = config.websocket_url(path)
    context = tls.tls_context(config) if url.startswith("wss://") else None
    ssl_arg = context if isinstance(context, ssl.SSLContext) else None
    await browser.accept(subprotocol="v5.channel.k8s.io")
    try:
        async with connect(
            url, subprotocols=SUBPROTOCOLS, additional_headers=config.auth_headers(),
            ssl=ssl_arg, max_size=1 << 20, open_timeout=30,
        ) as upstream:  # fmt: skip

            async def to_apiserver() -> None:
                while True:
                    message = await browser.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    data = message.get("bytes")
                    if data is None and message.get("text") is not None:
                        data = message["text"].encode()
                    if data:
                        await upstream.send(data)

            async def to_browser() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for frame in upstream:
                        await browser.send_bytes(
                            frame if isinstance(frame, bytes) else frame.encode()
                        )

            tasks = [
                asyncio.ensure_future(to_apiserver()),
                asyncio.ensure_future(to_browser()),
            ]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    except InvalidStatus as e:
        message = f"exec refused: HTTP {e.response.status_code}"
        with contextlib.suppress(orjson.JSONDecodeError):
            message = orjson.loads(e.response.body or b"{}").get("message") or message
        await _send_quietly(browser, status_frame(e.response.status_code, message))
    except (OSError, WebSocketException) as e:
        await _send_quietly(browser, status_frame(503, f"cannot reach the apiserver: {e}"))
    except WebSocketDisconnect:
        pass
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await browser.close()


async def _send_quietly(browser: WebSocket, data: bytes) -> None:
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await browser.send_bytes(data)
