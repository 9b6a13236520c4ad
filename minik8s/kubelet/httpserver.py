"""The kubelet's own HTTP API, which the apiserver proxies `pods/log`, `exec`, `attach`,
`portforward` and `nodes/<name>/proxy` to.

    GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&previous=
    /exec/…, /attach/…, /portForward/…: upgrade requests (SPDY/3.1 or WebSocket), served by
        `streaming/` on the raw connection (`componentbase.upgrade` hands it over)
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

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from minik8s.api import podutil
from minik8s.api.meta import Object
from minik8s.client import tasks
from minik8s.componentbase import httpserving, tlspeer, upgrade
from minik8s.kubelet import actions, logstatus, stats
from minik8s.kubelet.runtime import (
    LABEL_CONTAINER,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD,
    Container,
    Runtime,
)
from minik8s.kubelet.serverauth import AuthMiddleware, KubeletAuth
from minik8s.kubelet.streaming.router import StreamingApp, is_streaming_path

logger = logging.getLogger(__name__)


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
        self._server: httpserving.ComponentServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/healthz", lambda r: PlainTextResponse("ok")),
                Route("/metrics", _metrics),
                *stats.routes(self.stats, node),
                Route("/pods", self._list_pods),
                Route("/containerLogs/{namespace}/{pod}/{container}", self._logs),
                Route("/exec/{rest:path}", _not_upgraded, methods=["GET", "POST"]),
                Route("/attach/{rest:path}", _not_upgraded, methods=["GET", "POST"]),
                Route("/portForward/{rest:path}", _not_upgraded, methods=["GET", "POST"]),
            ]
        )
        self.streaming = StreamingApp(self.app, runtime, self._lookup)

    async def start(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app: Any = self.streaming
        if self.auth is not None:
            app = AuthMiddleware(app, self.auth)
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
            http=upgrade.hijacking(is_streaming_path),
            ws=tlspeer.PeerCertWebSocketProtocol,
            **tls,
        )
        self._server = httpserving.ComponentServer(config)
        self._task = tasks.spawn(self._server.serve(sockets=[sock]), "kubelet-server")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        scheme = "https" if self.tls is not None else "http"
        logger.info("kubelet API on %s://%s:%d", scheme, self.host, self.port)
        return self.port

    def reload_tls(self, cert_file: str, key_file: str) -> None:
        """Serve a new certificate (a rotated one) from the next TLS handshake on."""
        if self._server is not None and self._server.config.ssl is not None:
            self._server.config.ssl.load_cert_chain(cert_file, key_file)
            logger.info("kubelet API: serving certificate reloaded from %s", cert_file)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.request_exit()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)

    # --- handlers ------------------------------------------------------------------------

    async def _list_pods(self, request: Request) -> Response:
        return JSONResponse({"kind": "PodList", "apiVersion": "v1", "items": self.pods()})

    async def _find(
        self, namespace: str, pod: str, container: str, previous: bool = False
    ) -> Container | Response:
        history = await self._history(namespace, pod, container)
        if previous:
            history = history[:-1]
        if history:
            return history[-1]
        if previous:
            message = f'previous terminated container "{container}" in pod "{pod}" not found'
            return JSONResponse(status_body(400, "BadRequest", message), 400)
        known = self._pod(namespace, pod)
        if known is not None and podutil.container_named(known, container, ephemeral=True):
            message = logstatus.not_started(known, container)
            return JSONResponse(status_body(400, "BadRequest", message), 400)
        message = f'container "{container}" in pod "{pod}" not found'
        return JSONResponse(status_body(404, "NotFound", message), 404)

    def _pod(self, namespace: str, name: str) -> Object | None:
        for pod in self.pods():
            metadata = pod.get("metadata") or {}
            if metadata.get("namespace") == namespace and metadata.get("name") == name:
                return pod
        return None

    async def _logs(self, request: Request) -> Response:
        p, q = request.path_params, request.query_params
        found = await self._find(p["namespace"], p["pod"], p["container"], _flag(q.get("previous")))
        if isinstance(found, Response):
            return found
        tail = _number(q.get("tailLines", "").removeprefix("-"))
        tail = -tail if tail is not None and q["tailLines"].startswith("-") else tail
        since_seconds = _number(q.get("sinceSeconds", ""))
        since = time.time() - since_seconds if since_seconds is not None else None
        limit = _number(q.get("limitBytes", ""))
        follow = _flag(q.get("follow"))
        stream = self.runtime.logs(
            found.id, follow=follow, tail=tail, timestamps=_flag(q.get("timestamps")), since=since
        )
        return StreamingResponse(_limited(stream, limit), media_type="text/plain")

    async def _lookup(self, namespace: str, pod: str, container: str) -> Container | None:
        history = await self._history(namespace, pod, container)
        return history[-1] if history else None

    async def _history(self, namespace: str, pod: str, container: str) -> list[Container]:
        """The container's instances on this node, oldest first."""
        labels = {
            LABEL_NODE: self.node,
            LABEL_NAMESPACE: namespace,
            LABEL_POD: pod,
            LABEL_CONTAINER: container,
        }
        return actions.by_name(await self.runtime.list_containers(labels)).get(container, [])


async def _not_upgraded(request: Request) -> Response:
    message = "Upgrade request required"
    return JSONResponse(status_body(400, "BadRequest", message), 400)


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


def _number(text: str) -> int | None:
    """ASCII digits as an int (`str.isdigit()` alone accepts "²", which int() refuses)."""
    return int(text) if text.isascii() and text.isdigit() else None
