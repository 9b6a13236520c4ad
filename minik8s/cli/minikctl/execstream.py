"""`exec` over the apiserver's WebSocket (`v5.channel.k8s.io`), as kubectl 1.29+ does it.

Each binary frame starts with its channel: 1 stdout, 2 stderr, 3 the final `Status` (whose
`NonZeroExitCode` cause carries the command's exit code).
"""

from __future__ import annotations

import ssl
import sys
from typing import Any, BinaryIO

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from minik8s.api import errors as api_errors
from minik8s.client import tls
from minik8s.client.kubeconfig import ClientConfig

SUBPROTOCOLS = [Subprotocol("v5.channel.k8s.io"), Subprotocol("v4.channel.k8s.io")]
STDOUT, STDERR, STATUS = 1, 2, 3


def exit_code(status: dict[str, Any]) -> int:
    """The command's exit code from the channel-3 Status (0 on Success)."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", 1))
            except ValueError:
                return 1
    raise api_errors.from_status(status, int(status.get("code") or 500))


async def run(config: ClientConfig, path: str) -> int:
    """Run the exec at `path` (with its query); stream its output; return its exit code."""
    url = config.websocket_url(path)
    context = tls.tls_context(config) if url.startswith("wss://") else None
    ssl_arg = context if isinstance(context, ssl.SSLContext) else None
    outputs: dict[int, BinaryIO] = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}
    status: dict[str, Any] = {"status": "Success"}
    try:
        async with connect(
            url,
            subprotocols=SUBPROTOCOLS,
            additional_headers=config.auth_headers(),
            ssl=ssl_arg,
            max_size=None,
            open_timeout=30,
        ) as ws:
            async for message in ws:
                frame = message.encode() if isinstance(message, str) else message
                if not frame:
                    continue
                channel, data = frame[0], frame[1:]
                if channel in outputs and data:
                    outputs[channel].write(data)
                    outputs[channel].flush()
                elif channel == STATUS and data:
                    status = orjson.loads(data)
    except InvalidStatus as e:
        body = e.response.body or b"{}"
        try:
            raise api_errors.from_status(orjson.loads(body), e.response.status_code) from e
        except orjson.JSONDecodeError:
            raise api_errors.BadRequest(f"exec failed: HTTP {e.response.status_code}") from e
    except (OSError, WebSocketException) as e:
        raise api_errors.ServiceUnavailable(f"exec: cannot reach {config.server}: {e}") from e
    return exit_code(status)
