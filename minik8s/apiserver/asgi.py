"""The apiserver's front door: REST paths go straight to the resource handler.

FastAPI serves the small fixed routes (health, discovery roots, OpenAPI, metrics). The REST
paths under `/api/<version>/…` and `/apis/<group>/<version>/…` skip its middleware and
routing stack, which costs more than the request's own work at thousands of requests per
second; authentication for them happens here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from minik8s.api import errors
from minik8s.apiserver import auth, kubeletproxy, wire
from minik8s.apiserver.serviceaccount.authenticator import ServiceAccountAuthenticator

logger = logging.getLogger(__name__)

UNAUTHORIZED = wire.encode(errors.Unauthorized("Unauthorized").to_status())


def is_rest_path(path: str) -> bool:
    """True for resource paths; False for `/api`, `/apis` and everything else."""
    if path.startswith("/api/"):
        return len(path) > len("/api/")
    if path.startswith("/apis/"):
        return path.count("/") >= 2 and len(path) > len("/apis/")
    return False


class ApiserverApp:
    def __init__(
        self,
        app: FastAPI,
        tokens: dict[str, auth.User] | None,
        service_accounts: ServiceAccountAuthenticator | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.service_accounts = service_accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and is_rest_path(scope["path"]):
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http" or not is_rest_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.tokens is not None and not self._authenticated(scope):
            await send({
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(UNAUTHORIZED)).encode())],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": UNAUTHORIZED})
            return
        scope["app"] = self.app
        request = Request(scope, receive)
        response = await self.app.state.handler(request)
        await response(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Only `pods/{name}/exec` upgrades to a WebSocket (proxied to the pod's kubelet)."""
        if self.tokens is not None and not self._authenticated(scope):
            await send({"type": "websocket.close", "code": 1008})
            return
        await kubeletproxy.exec_websocket(self.app.state.handler.registry, scope, receive, send)

    def begin_shutdown(self) -> None:
        """End every watch stream cleanly so the server can stop without cutting them."""
        cache = getattr(self.app.state, "cache", None)
        if cache is not None:
            logger.info("shutting down: closing %d watches", cache.watcher_count())
            cache.close_watchers()

    def _authenticated(self, scope: Scope) -> bool:
        """Check the bearer token; remember who it is in the scope (for SelfSubjectReview)."""
        assert self.tokens is not None
        for key, value in scope["headers"]:
            if key == b"authorization":
                header = value.decode("latin-1")
                user = auth.authenticate(self.tokens, header)
                if user is None and self.service_accounts is not None:
                    user = self.service_accounts.authenticate_header(header)
                scope[auth.SCOPE_USER] = user
                return user is not None
        return False
