"""The kubelet's own HTTP API, which the apiserver proxies `pods/log` and `pods/exec` to.

    GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&previous=
    WS  /exec/{namespace}/{pod}/{container}?command=…&stdin=&stdout=&stderr=&tty=
        (subprotocols v5.channel.k8s.io and v4.channel.k8s.io: one byte of channel, then data;
        0 stdin, 1 stdout, 2 stderr, 3 the final Status; v5 adds 255 = close a channel)
    GET /healthz, /metrics, /pods
    GET /metrics/resource, /stats/summary   (resource usage: `stats.py`)

With `--tls-cert-file` it serves HTTPS and every request is authenticated and authorized as
Kubernetes' kubelet does it (`serverauth.py`: client certificates, bearer tokens through a
TokenReview, a SubjectAccessReview on `nodes/proxy|log|stats|metrics`): an unauthenticated
request gets 401. Without it (hollow nodes in tests) it serves plain HTTP to anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from minik8s.api.meta import Object
from minik8s.client import tasks
from minik8s.componentbase import tlspeer
from minik8s.kubelet import actions, stats
from minik8s.kubelet.runtime import (
    LABEL_CONTAINER,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD,
    Container,
    Runtime,
    RuntimeError_,
)
from minik8s.kubelet.serverauth import AuthMiddleware, KubeletAuth

logger = logging.getLogger(__name__)

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def status_body(code: int, reason: str, message: str) -> Object:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def exec_status(exit_code: int) -> bytes:
    """The Status written on channel 3 when the command ends."""
    if exit_code == 0:
        return orjson.dumps({"metadata": {}, "status": "Success"})
    return orjson.dumps(
        {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
        }
    )


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class KubeletServer:
    def __init__(
        self,
        runtime: Runtime,
        node: str,
        host: str,
        port: int,
        pods: Callable[[], list[Object]],
        tls: tuple[str, str, str | None] | None = None,
        auth: KubeletAuth | None = None,
    ) -> None:
        """`tls`: (certificate, key, client CA or None); `auth`: who may call it."""
        self.stats = stats.StatsProvider(runtime, node, hollow=runtime.name == "fake")
        self.runtime = runtime
        self.node = node
        self.host = host
        self.port = port
        self.pods = pods
        self.tls = tls
        self.auth = auth
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/healthz", lambda r: PlainTextResponse("ok")),
                Route("/metrics", _metrics),
                *stats.routes(self.stats, node),
                Route("/pods", self._list_pods),
                Route("/containerLogs/{namespace}/{pod}/{container}", self._logs),
                WebSocketRoute("/exec/{namespace}/{pod}/{container}", self._exec),
                Route(
                    "/exec/{namespace}/{pod}/{container}",
                    self._exec_not_upgraded,
                    methods=["GET", "POST"],
                ),
            ]
        )

    async def start(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app: Any = self.app if self.auth is None else AuthMiddleware(self.app, self.auth)
        tls: dict[str, Any] = {}
        if self.tls is not None:
            cert, key, client_ca = self.tls
            tls = {"ssl_certfile": cert, "ssl_keyfile": key}
            if client_ca:
                tls.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_OPTIONAL)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            http=tlspeer.PeerCertHttpProtocol,
            ws=tlspeer.PeerCertWebSocketProtocol,
            **tls,
        )
        self._server = _Server(config)
        self._task = tasks.spawn(self._server.serve(sockets=[sock]), "kubelet-server")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        scheme = "https" if self.tls is not None else "http"
        logger.info("kubelet API on %s://%s:%d", scheme, self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)

    # --- handlers ------------------------------------------------------------------------

    async def _list_pods(self, request: Request) -> Response:
        return JSONResponse({"kind": "PodList", "apiVersion": "v1", "items": self.pods()})

    async def _find(
        self, namespace: str, pod: str, container: str, previous: bool = False
    ) -> Container | Response:
        labels = {
            LABEL_NODE: self.node,
            LABEL_NAMESPACE: namespace,
            LABEL_POD: pod,
            LABEL_CONTAINER: container,
        }
        history = actions.by_name(await self.runtime.list_containers(labels)).get(container, [])
        if previous:
            history = history[:-1]
        if not history:
            what = "previous terminated container" if previous else "container"
            message = f'{what} "{container}" in pod "{pod}" not found'
            return JSONResponse(status_body(404, "NotFound", message), 404)
        return history[-1]

    async def _logs(self, request: Request) -> Response:
        p, q = request.path_params, request.query_params
        found = await self._find(p["namespace"], p["pod"], p["container"], _flag(q.get("previous")))
        if isinstance(found, Response):
            return found
        tail = int(q["tailLines"]) if q.get("tailLines", "").lstrip("-").isdigit() else None
        since = None
        if q.get("sinceSeconds", "").isdigit():
            since = time.time() - int(q["sinceSeconds"])
        limit = int(q["limitBytes"]) if q.get("limitBytes", "").isdigit() else None
        follow = _flag(q.get("follow"))
        stream = self.runtime.logs(
            found.id, follow=follow, tail=tail, timestamps=_flag(q.get("timestamps")), since=since
        )
        return StreamingResponse(_limited(stream, limit), media_type="text/plain")

    async def _exec_not_upgraded(self, request: Request) -> Response:
        message = (
            "exec needs a WebSocket upgrade with subprotocol v5.channel.k8s.io or "
            "v4.channel.k8s.io; SPDY is not supported by minik8s"
        )
        return JSONResponse(status_body(400, "BadRequest", message), 400)

    async def _exec(self, ws: WebSocket) -> None:
        offered = [s.strip() for s in ws.headers.get("sec-websocket-protocol", "").split(",")]
        protocol = next((s for s in SUBPROTOCOLS if s in offered), None)
        p, q = ws.path_params, ws.query_params
        command = q.getlist("command")
        if protocol is None or not command:
            await ws.close(code=1002 if protocol is None else 1008)
            return
        await ws.accept(subprotocol=protocol)
        found = await self._find(p["namespace"], p["pod"], p["container"])
        if isinstance(found, Response):
            await ws.send_bytes(bytes([ERROR]) + found.body)
            await ws.close()
            return
        stdin, tty = _flag(q.get("stdin")), _flag(q.get("tty"))
        try:
            session = await self.runtime.exec_stream(found.id, command, stdin, tty)
        except RuntimeError_ as e:
            body = orjson.dumps(status_body(500, "InternalError", str(e)))
            await ws.send_bytes(bytes([ERROR]) + body)
            await ws.close()
            return
        logger.info("%s/%s: exec %s in %s", p["namespace"], p["pod"], command, p["container"])
        pump: asyncio.Task[None] | None = None
        if stdin:
            pump = tasks.spawn(self._stdin(ws, session), "exec-stdin")
        try:
            async for channel, data in session.output():
                await ws.send_bytes(bytes([channel]) + data)
            code = await session.exit_code()
            await ws.send_bytes(bytes([ERROR]) + exec_status(code))
            await ws.close()
        except (WebSocketDisconnect, RuntimeError) as e:
            logger.debug("exec client went away: %r", e)
        finally:
            if pump is not None:
                pump.cancel()
            await session.close()

    async def _stdin(self, ws: WebSocket, session: Any) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                message = await ws.receive_bytes()
                if not message:
                    continue
                if message[0] == STDIN:
                    await session.write_stdin(message[1:])
                elif message[0] == CLOSE and message[1:2] == bytes([STDIN]):
                    await session.close_stdin()


async def _metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _limited(stream: AsyncIterator[bytes], limit: int | None) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in stream:
        if limit is not None and sent + len(chunk) >= limit:
            yield chunk[: limit - sent]
            return
        sent += len(chunk)
        yield chunk


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the component runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        pass
