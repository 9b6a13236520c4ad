"""A component's small HTTP endpoint: /healthz, /livez, /readyz and Prometheus /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

Check = Callable[[], bool]


class HealthServer:
    """Plain HTTP on loopback by default; each check must be cheap and never block."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        liveness: dict[str, Check] | None = None,
        readiness: dict[str, Check] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.liveness = liveness or {}
        self.readiness = readiness or {}
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("serving /healthz and /metrics on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest()
        checks = {"/healthz": self.liveness, "/livez": self.liveness,
                  "/readyz": {**self.liveness, **self.readiness}}.get(path)  # fmt: skip
        if checks is None:
            return 404, "text/plain", b"not found\n"
        failed = [name for name, check in checks.items() if not _passes(check)]
        if failed:
            return 500, "text/plain", ("failed: " + ", ".join(failed) + "\n").encode()
        return 200, "text/plain", b"ok"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else "/"
            code, content_type, body = self._answer(path)
            reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[code]
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def _passes(check: Check) -> bool:
    try:
        return bool(check())
    except Exception:
        logger.exception("health check failed")
        return False
