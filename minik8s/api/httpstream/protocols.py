"""The streaming sub-protocols of exec, attach and port-forward: names, headers, channels (pure).

Remote commands (`pods/exec`, `pods/attach`):
- over SPDY (`X-Stream-Protocol-Version: v4.channel.k8s.io`, or v3, v2, `channel.k8s.io`): the
  client opens one stream per `streamType` header value (`error`, `stdin`, `stdout`, `stderr`,
  `resize`); the server writes the final `Status` (v4; plain text before) on `error`;
- over WebSocket (`Sec-WebSocket-Protocol: v5.channel.k8s.io`, v4, or `channel.k8s.io`): each
  binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5
  adds 255 + channel = "this channel is closed" (kubectl closes stdin so).
Resize messages are JSON `{"Width": w, "Height": h}` objects, one after the other.

Port forwarding (`pods/portforward`):
- over SPDY (`portforward.k8s.io`): each forwarded connection is a pair of streams with headers
  `streamType` (`error`/`data`), `port` and `requestID`; a failure is written as text on its
  error stream;
- over WebSocket (`v4.channel.k8s.io`, `portforward.k8s.io` or none, with `?ports=80,443`): one
  connection per port, channels 2i (data) and 2i+1 (error), each opened by the port number as
  two little-endian bytes;
- SPDY tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+ tries it first):
  the binary messages carry the SPDY connection's bytes.
"""

from __future__ import annotations

from typing import Any

import orjson

HEADER_PROTOCOL_VERSION = "x-stream-protocol-version"
HEADER_ACCEPTED_PROTOCOL_VERSIONS = "x-accepted-stream-protocol-versions"
SPDY_31 = "SPDY/3.1"
TUNNEL_PREFIX = "SPDY/3.1+"

REMOTECOMMAND_V1 = "channel.k8s.io"
REMOTECOMMAND_V2 = "v2.channel.k8s.io"
REMOTECOMMAND_V3 = "v3.channel.k8s.io"
REMOTECOMMAND_V4 = "v4.channel.k8s.io"
REMOTECOMMAND_V5 = "v5.channel.k8s.io"
SPDY_REMOTECOMMAND = (REMOTECOMMAND_V4, REMOTECOMMAND_V3, REMOTECOMMAND_V2, REMOTECOMMAND_V1)
WEBSOCKET_REMOTECOMMAND = (REMOTECOMMAND_V5, REMOTECOMMAND_V4, REMOTECOMMAND_V1)
PORTFORWARD_V1 = "portforward.k8s.io"
SPDY_PORTFORWARD = (PORTFORWARD_V1,)
WEBSOCKET_PORTFORWARD = (REMOTECOMMAND_V4, PORTFORWARD_V1)
"""Binary channel framing; Kubernetes also accepts no subprotocol at all (as we do)."""

STREAM_TYPE = "streamtype"
PORT = "port"
REQUEST_ID = "requestid"
STDIN, STDOUT, STDERR, ERROR, RESIZE = "stdin", "stdout", "stderr", "error", "resize"
DATA = "data"
CHANNELS = {STDIN: 0, STDOUT: 1, STDERR: 2, ERROR: 3, RESIZE: 4}
CLOSE_CHANNEL = 255

NON_ZERO_EXIT_CODE = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"
MAX_RESIZE_BUFFER = 4096
"""Pending resize bytes beyond this (no complete JSON object in 4 KiB) are dropped."""


def negotiate(offered: list[str], supported: tuple[str, ...]) -> str | None:
    """The first protocol the client offered that the server supports (client preference,
    as apimachinery's Handshake chooses)."""
    for protocol in offered:
        if protocol in supported:
            return protocol
    return None


def split_header(values: list[str]) -> list[str]:
    """Comma-separated header values (`Sec-WebSocket-Protocol: a, b`) as one list."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(exit_code: int) -> dict[str, Any]:
    """The Status that ends an exec: Success, or NonZeroExitCode with the code as its cause."""
    if exit_code == 0:
        return success_status()
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {exit_code}",
        "reason": NON_ZERO_EXIT_CODE,
        "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(exit_code)}]},
    }


def failure_status(message: str, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def error_stream_bytes(protocol: str, status: dict[str, Any]) -> bytes:
    """What a remote command's error stream carries: the Status as JSON (v4 and v5), or, for
    the older protocols, the message of a failure and nothing for success."""
    if protocol in (REMOTECOMMAND_V4, REMOTECOMMAND_V5):
        return orjson.dumps(status)
    if status.get("status") == "Success":
        return b""
    return str(status.get("message", "")).encode()


class ResizeDecoder:
    """Terminal sizes from a resize stream: `{"Width":80,"Height":24}` objects, back to back,
    fed in any pieces. Malformed input is skipped, never fatal."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[tuple[int, int]]:
        data = self._pending + chunk
        sizes: list[tuple[int, int]] = []
        start = data.find(b"{")
        while start >= 0:
            end = data.find(b"}", start)
            if end < 0:
                break
            try:
                value = orjson.loads(data[start : end + 1])
            except orjson.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                width, height = value.get("Width"), value.get("Height")
                if isinstance(width, int) and isinstance(height, int) and width > 0 < height:
                    sizes.append((min(width, 65535), min(height, 65535)))
            start = data.find(b"{", end + 1)
        self._pending = b"" if start < 0 else data[start:][-MAX_RESIZE_BUFFER:]
        return sizes


def parse_ports(values: list[str]) -> list[int]:
    """`?ports=80,443&ports=8080` as Kubernetes reads it; ValueError with its message."""
    ports: list[int] = []
    for value in values:
        if not value:
            raise ValueError('query parameter "port" cannot be empty')
        for part in value.split(","):
            if not part.strip().isdigit() or int(part) > 65535:
                raise ValueError(f'unable to parse "{value}" as a port')
            if int(part) < 1:
                raise ValueError(f'port "{value}" must be > 0')
            ports.append(int(part))
    return ports


def port_bytes(port: int) -> bytes:
    """The two little-endian bytes that open a WebSocket port-forward channel."""
    return port.to_bytes(2, "little")
