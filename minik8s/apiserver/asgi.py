"""The apiserver's front door: authentication, audit, impersonation, authorization, the routes.

Every request — REST paths, discovery, OpenAPI, health, metrics, WebSockets — gets an audit
ID (the caller's `Audit-ID` header, else a new UUID, echoed in the `Audit-Id` response
header), is authenticated (client certificate, bearer token, else anonymous; 401 when a
credential does not check out), audited when `--audit-policy-file` says so (from here on,
as the authenticated user), then impersonation headers are applied, then the request is
authorized as Kubernetes' RequestInfo describes it (403 with Kubernetes' message), in
Kubernetes' filter order. Only then is it served:
REST paths under `/api/<version>/…` and `/apis/<group>/<version>/…` go straight to the
resource handler (FastAPI's middleware and routing cost more than the request's own work at
thousands of requests per second); the small fixed routes go to FastAPI. Upgrade requests to
`pods/<name>/exec|attach|portforward` (SPDY or WebSocket) arrive with their raw connection
(`componentbase.upgrade`) and are relayed to the pod's kubelet (`streamproxy.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from minik8s.api import errors
from minik8s.apiserver import flowcontrol, metrics, requestcontext, requestinfo, streamproxy, wire
from minik8s.apiserver.audit import auditor
from minik8s.apiserver.audit import context as audit_context
from minik8s.apiserver.audit.auditor import Auditor
from minik8s.apiserver.authn import impersonation
from minik8s.apiserver.authn.chain import Authenticator
from minik8s.apiserver.authn.user import ANONYMOUS_USER, UserInfo
from minik8s.apiserver.authz import forbidden
from minik8s.apiserver.authz.authorizer import Decision, Union
from minik8s.componentbase import upgrade as upgrades

logger = logging.getLogger(__name__)

UNAUTHORIZED = errors.Unauthorized("Unauthorized")
KNOWN_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
AUDIT_ID = b"Audit-Id"
SCOPE_ATTRIBUTES = "minik8s.attributes"
"""The request's authorizer attributes, once `_admit` has parsed them."""


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
        self.auditor: Auditor | None = None
        """Set when `--audit-policy-file` and a backend are given."""
        self.flowcontrol: flowcontrol.FlowControl | None = None
        """API Priority and Fairness (None: `--enable-priority-and-fairness=false`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)  # lifespan
            return
        started = time.perf_counter()
        audit_id = auditor.audit_id(scope["headers"])
        context, refusal = self._admit(scope, audit_id)
        if context is not None:
            audit_context.CURRENT.set(context)
        send = _sender(send, audit_id.encode("latin-1"), context)
        try:
            if refusal is not None:
                # counted without the resource: a refused path may name anything
                method = str(scope.get("method", "GET")).lower()
                verb = method if method in KNOWN_METHODS else "other"
                metrics.observe_request(verb, "", refusal.code, started)
                await _refuse(scope, send, refusal)
            else:
                await self._limited(scope, receive, send, started)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            if context is not None:
                context.log_panic(e)
            raise
        finally:
            if context is not None:
                context.finish()

    async def _limited(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """Serve the request once API Priority and Fairness gives it a seat (429 if not)."""
        flow = self.flowcontrol
        if flow is None:
            await self._serve(scope, receive, send, started)
            return
        attrs = scope.get(SCOPE_ATTRIBUTES) or self._attributes(
            scope, scope[requestcontext.SCOPE_USER]
        )
        try:
            ticket = await flow.admit(attrs)
        except errors.TooManyRequests as e:
            metrics.observe_request(attrs.verb, attrs.resource, e.code, started)
            await _refuse(scope, send, e)
            return
        try:
            await self._serve(scope, receive, send, started)
        finally:
            flow.done(ticket)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        hijacked = upgrades.upgrade_of(scope)
        if hijacked is not None:
            await self._stream(scope, send, hijacked, started)
            return
        if scope["type"] == "websocket":  # WebSockets elsewhere (a watch, say) are not served
            await _refuse(
                scope,
                send,
                errors.BadRequest("WebSocket is only served for exec, attach and portforward"),
            )
            return
        if not is_rest_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        request = Request(scope, receive)
        response = await self.app.state.handler(request)
        await response(scope, receive, send)

    async def _stream(
        self, scope: Scope, send: Send, hijacked: upgrades.Upgrade, started: float
    ) -> None:
        handler = self.app.state.handler
        context = audit_context.CURRENT.get()

        code = [101]

        def responded(status: int) -> None:
            code[0] = status
            if context is None:
                return
            if status == 101:  # the audit event's 101 and its ResponseStarted stage
                context.on_send({"type": "websocket.accept"})
            else:
                context.on_send({"type": "http.response.start", "status": status})

        try:
            await streamproxy.serve(handler.registry, handler.kubelets, scope, hijacked, responded)
        except errors.ApiError as e:
            metrics.observe_request("create", "pods", e.code, started)
            if not hijacked.claimed:
                await _refuse(scope, send, e)
            return
        metrics.observe_request("create", "pods", code[0], started)

    def _admit(
        self, scope: Scope, audit_id: str
    ) -> tuple[audit_context.AuditContext | None, errors.ApiError | None]:
        """Authenticate, audit, impersonate and authorize the request, remembering who it
        is: its audit context, and the 401/403/400 that refuses it (None: serve it)."""
        received = time.time()
        audit = self.auditor
        user = self.authenticator.authenticate(scope)
        if user is None:
            context = None
            if audit is not None:
                context = audit.failed_authentication(
                    scope, audit_id, received, self._attributes(scope, ANONYMOUS_USER)
                )
            return context, UNAUTHORIZED
        authorizer = self.authorizer
        attrs = None
        context = None
        if audit is not None:
            attrs = self._attributes(scope, user)
            context = audit.begin(scope, audit_id, received, user, attrs)
        try:
            if impersonation.requested(scope["headers"]):
                allow_all = _allow_all if authorizer is None else authorizer.authorize
                user = impersonation.impersonate(user, scope["headers"], allow_all)
                if context is not None:
                    context.log_impersonated_user(user)
                if attrs is not None:
                    attrs = dataclasses.replace(attrs, user=user)
            decision, reason = Decision.ALLOW, ""
            if authorizer is not None:
                attrs = attrs or self._attributes(scope, user)
                decision, reason = authorizer.authorize(attrs)
            if context is not None:
                context.log_decision(decision is Decision.ALLOW, reason)
            if attrs is not None and decision is not Decision.ALLOW:
                raise forbidden.forbidden(attrs, reason)
        except errors.ApiError as e:
            return context, e
        scope[requestcontext.SCOPE_USER] = user
        if attrs is not None:
            scope[SCOPE_ATTRIBUTES] = attrs
        requestcontext.USER.set(user)
        return context, None

    @staticmethod
    def _attributes(scope: Scope, user: UserInfo) -> requestinfo.Attributes:
        return requestinfo.parse(
            user,
            scope.get("method", "GET"),
            scope["path"],
            scope.get("query_string", b""),
            websocket=scope["type"] == "websocket" or upgrades.upgrade_of(scope) is not None,
        )

    def begin_shutdown(self) -> None:
        """End every watch stream cleanly so the server can stop without cutting them."""
        cache = getattr(self.app.state, "cache", None)
        if cache is not None:
            logger.info("shutting down: closing %d watches", cache.watcher_count())
            cache.close_watchers()


def _sender(send: Send, audit_id: bytes, context: audit_context.AuditContext | None) -> Send:
    """`send`, adding the `Audit-Id` header (Kubernetes sends it on every response) and showing
    each message to the request's audit context."""

    async def sender(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" or kind == "websocket.http.response.start":
            message["headers"] = [*message.get("headers", ()), (AUDIT_ID, audit_id)]
        if context is not None:
            context.on_send(message)
        await send(message)

    return sender


def _allow_all(attrs: requestinfo.Attributes) -> tuple[Decision, str]:
    return Decision.ALLOW, ""


async def _refuse(scope: Scope, send: Send, error: errors.ApiError) -> None:
    """Answer with the error's Status; a WebSocket gets it as the upgrade's HTTP response."""
    body = wire.encode(error.to_status())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.retry_after_seconds:
        headers.append((b"retry-after", str(error.retry_after_seconds).encode()))
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
