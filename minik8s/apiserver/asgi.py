"""The apiserver's front door: authentication, impersonation, authorization, then the routes.

Every request — REST paths, discovery, OpenAPI, health, metrics, WebSockets — is first
authenticated (client certificate, bearer token, else anonymous; 401 when a credential does
not check out), then impersonation headers are applied, then the request is authorized as
Kubernetes' RequestInfo describes it (403 with Kubernetes' message). Only then is it served:
REST paths under `/api/<version>/…` and `/apis/<group>/<version>/…` go straight to the
resource handler (FastAPI's middleware and routing cost more than the request's own work at
thousands of requests per second); the small fixed routes go to FastAPI.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from minik8s.api import errors
from minik8s.apiserver import kubeletproxy, metrics, requestcontext, requestinfo, wire
from minik8s.apiserver.authn import impersonation
from minik8s.apiserver.authn.chain import Authenticator
from minik8s.apiserver.authz import forbidden
from minik8s.apiserver.authz.authorizer import Decision, Union

logger = logging.getLogger(__name__)

UNAUTHORIZED = errors.Unauthorized("Unauthorized")
KNOWN_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})


def is_rest_path(path: str) -> bool:
    """True for resource paths; False for `/api`, `/apis` and everything else."""
    if path.startswith("/api/"):
        return len(path) > len("/api/")
    if path.startswith("/apis/"):
        return path.count("/") >= 2 and len(path) > len("/apis/")
    return False


class ApiserverApp:
    def __init__(
        self, app: FastAPI, authenticator: Authenticator, authorizer: Union | None
    ) -> None:
        """`authorizer` None: every authenticated request is allowed (AlwaysAllow alone)."""
        self.app = app
        self.authenticator = authenticator
        self.authorizer = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)  # lifespan
            return
        started = time.perf_counter()
        try:
            self._admit(scope)
        except errors.ApiError as e:
            # counted without the resource: a refused path may name anything
            method = str(scope.get("method", "GET")).lower()
            verb = method if method in KNOWN_METHODS else "other"
            metrics.observe_request(verb, "", e.code, started)
            await _refuse(scope, send, e)
            return
        if kind == "websocket":
            if is_rest_path(scope["path"]):
                handler = self.app.state.handler
                await kubeletproxy.exec_websocket(
                    handler.registry, handler.kubelets, scope, receive, send
                )
            else:
                await _refuse(
                    scope, send, errors.NotFound("the server could not find the requested resource")
                )
            return
        if not is_rest_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        request = Request(scope, receive)
        response = await self.app.state.handler(request)
        await response(scope, receive, send)

    def _admit(self, scope: Scope) -> None:
        """Authenticate and authorize the request; remember who it is. Raises 401/403/400."""
        user = self.authenticator.authenticate(scope)
        if user is None:
            raise UNAUTHORIZED
        authorizer = self.authorizer
        if impersonation.requested(scope["headers"]):
            allow_all = _allow_all if authorizer is None else authorizer.authorize
            user = impersonation.impersonate(user, scope["headers"], allow_all)
        if authorizer is not None:
            attrs = requestinfo.parse(
                user,
                scope.get("method", "GET"),
                scope["path"],
                scope.get("query_string", b""),
                websocket=scope["type"] == "websocket",
            )
            decision, reason = authorizer.authorize(attrs)
            if decision is not Decision.ALLOW:
                raise forbidden.forbidden(attrs, reason)
        scope[requestcontext.SCOPE_USER] = user
        requestcontext.USER.set(user)

    def begin_shutdown(self) -> None:
        """End every watch stream cleanly so the server can stop without cutting them."""
        cache = getattr(self.app.state, "cache", None)
        if cache is not None:
            logger.info("shutting down: closing %d watches", cache.watcher_count())
            cache.close_watchers()


def _allow_all(attrs: requestinfo.Attributes) -> tuple[Decision, str]:
    return Decision.ALLOW, ""


async def _refuse(scope: Scope, send: Send, error: errors.ApiError) -> None:
    """Answer with the error's Status; a WebSocket gets it as the upgrade's HTTP response."""
    body = wire.encode(error.to_status())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": error.code, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send(
            {"type": "websocket.http.response.start", "status": error.code, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})
