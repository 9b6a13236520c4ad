"""The dashboard's HTTP routes (Starlette): sign-in, the pages' assets, their live streams,
their actions, the exec terminal and the audit webhook receiver.

Every `/api/` route needs a session (the HttpOnly cookie); every write also needs the
session's CSRF token in `X-CSRF-Token` and, when the browser sends one, a same-origin
`Origin`. Answers carry no-store, no-referrer and frame-denying headers.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from minik8s.api import errors
from minik8s.dashboard import (
    actions,
    auditflow,
    execbridge,
    flowstream,
    login,
    logs,
    streams,
    usage,
)
from minik8s.dashboard.config import DashboardSettings
from minik8s.dashboard.flowlog import FlowLog
from minik8s.dashboard.sessions import COOKIE, Session, SessionStore

logger = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
PAGES = ("/", "/overview", "/workloads", "/pods", "/services", "/config", "/events",
         "/namespaces", "/nodes", "/architecture", "/pod", "/object")  # fmt: skip
MAX_AUDIT_BODY = 32 << 20
MAX_TABLES = 8


class Dashboard:
    def __init__(self, settings: DashboardSettings, store: SessionStore) -> None:
        self.settings = settings
        self.store = store
        self.flow = FlowLog()
        self.audit_token = (
            settings.audit_webhook_token_file.read_text().strip()
            if settings.audit_webhook_token_file
            else None
        )

    # --- sessions and CSRF -------------------------------------------------------------------

    def session(self, request: Request | WebSocket) -> Session | None:
        return self.store.get(request.cookies.get(COOKIE))

    @staticmethod
    def same_origin(request: Request | WebSocket) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return isinstance(request, Request)  # browsers always send it on WebSockets
        host = request.headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")

    def writer(self, request: Request) -> Session | Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        sent = request.headers.get("x-csrf-token", "")
        if not self.same_origin(request) or not hmac.compare_digest(sent, session.csrf):
            return _status(errors.Forbidden("cross-site request refused (CSRF token missing)"))
        return session

    # --- pages ---------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        if self.session(request) is None:
            return RedirectResponse("/login", status_code=303)
        index = self.settings.static_dir / "index.html"
        if not index.is_file():
            return PlainTextResponse(
                "the dashboard's frontend is not built: run `make dashboard`", status_code=503
            )
        return FileResponse(index, headers=SECURITY_HEADERS)

    async def login_page(self, request: Request) -> Response:
        if "code" in request.query_params:
            return await login.by_code(request, self.store, self.settings.grant_dir)
        return login.form()

    async def login_post(self, request: Request) -> Response:
        if not self.same_origin(request):
            return login.form("Cross-site sign-in refused.", 403)
        return await login.by_token(request, self.store)

    async def logout(self, request: Request) -> Response:
        if isinstance(self.writer(request), Response):
            return _status(errors.Forbidden("cross-site request refused"))
        await self.store.remove(request.cookies.get(COOKIE))
        response = JSONResponse({"signedOut": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    # --- reads ---------------------------------------------------------------------------------

    async def whoami(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        return _json({"user": session.user, "groups": session.groups, "csrf": session.csrf})

    async def watch(self, request: Request) -> Response:
        """`/api/watch?r=pods&r=nodes&namespace=…&labelSelector.pods=…`: the live tables of a
        page, all on one stream."""
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        q = request.query_params
        plurals = q.getlist("r")
        if not plurals or len(plurals) > MAX_TABLES:
            return _status(errors.BadRequest(f"name 1 to {MAX_TABLES} resources with r="))
        try:
            types = [actions.resource(p) for p in plurals]
        except errors.ApiError as e:
            return _status(e)
        namespace = q.get("namespace") or None
        sources = [
            streams.table_stream(
                session.client, rt, namespace if rt.namespaced else None,
                q.get(f"labelSelector.{rt.plural}") or None, self.settings.stream,
            )
            for rt in types
        ]  # fmt: skip
        return self._sse(sources[0] if len(sources) == 1 else streams.merged(sources))

    async def log(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        q = request.query_params
        source = logs.log_stream(
            session.client, request.path_params["namespace"], request.path_params["name"],
            q.get("container") or None, q.get("follow", "true") == "true",
            _int(q.get("tailLines"), 500),
        )  # fmt: skip
        return self._sse(source)

    async def flow_stream(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        return self._sse(flowstream.stream(session.client, self.flow, self.settings.stream))

    async def node_usage(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        return self._sse(usage.usage_stream(session.client, self.settings.stream))

    async def pod_flow(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        source = flowstream.follow_pod(
            session.client, request.path_params["namespace"], request.path_params["name"],
            self.settings.stream,
        )  # fmt: skip
        return self._sse(source)

    async def get_object(self, request: Request) -> Response:
        return await self._call(request, actions.get_with_events, False)

    async def get_yaml(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        p = request.path_params
        try:
            text = await actions.as_yaml(session.client, p["plural"], p["namespace"], p["name"])
        except errors.ApiError as e:
            return _status(e)
        return PlainTextResponse(text, headers=SECURITY_HEADERS)

    # --- writes --------------------------------------------------------------------------------

    async def put_yaml(self, request: Request) -> Response:
        session = self.writer(request)
        if isinstance(session, Response):
            return session
        p = request.path_params
        body = (await request.body()).decode(errors="replace")
        try:
            obj = await actions.replace_from_yaml(
                session.client, p["plural"], p["namespace"], p["name"], body
            )
        except errors.ApiError as e:
            return _status(e)
        return _json(obj)

    async def scale(self, request: Request) -> Response:
        return await self._call(request, actions.scale, True, "replicas")

    async def restart(self, request: Request) -> Response:
        return await self._call(request, actions.restart, True)

    async def undo(self, request: Request) -> Response:
        return await self._call(request, actions.undo, True)

    async def delete(self, request: Request) -> Response:
        return await self._call(request, actions.delete, True)

    async def run_pod(self, request: Request) -> Response:
        session = self.writer(request)
        if isinstance(session, Response):
            return session
        try:
            sent = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError:
            return _status(errors.BadRequest("the body is not JSON"))
        if not isinstance(sent, dict):
            return _status(errors.BadRequest("the body must be a JSON object"))
        try:
            pod = await actions.run_pod(
                session.client, request.path_params["namespace"], sent.get("name"),
                sent.get("image"),
            )  # fmt: skip
        except errors.ApiError as e:
            return _status(e)
        return _json(pod, 201)

    async def reveal(self, request: Request) -> Response:
        session = self.writer(request)
        if isinstance(session, Response):
            return session
        p = request.path_params
        try:
            return _json(await actions.reveal_secret(session.client, p["namespace"], p["name"]))
        except errors.ApiError as e:
            return _status(e)

    async def exec_socket(self, websocket: WebSocket) -> None:
        session = self.session(websocket)
        if session is None or not self.same_origin(websocket):
            await websocket.close(code=4403)
            return
        q = websocket.query_params
        command = q.getlist("command") or ["sh"]
        path = execbridge.exec_path(
            websocket.path_params["namespace"], websocket.path_params["name"],
            q.get("container") or None, command,
        )  # fmt: skip
        await execbridge.bridge(websocket, session.config, path)

    # --- the audit webhook ---------------------------------------------------------------------

    async def audit_webhook(self, request: Request) -> Response:
        """Batched `audit.k8s.io/v1` EventLists from the apiserver's webhook backend,
        authenticated by the bearer token of the webhook's kubeconfig."""
        if self.audit_token is None:
            return _status(errors.NotFound("the audit webhook is not configured"))
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), self.audit_token.encode()):
            return _status(errors.Unauthorized("the audit webhook's token is wrong"))
        body = await request.body()
        if len(body) > MAX_AUDIT_BODY:
            return _status(errors.RequestEntityTooLarge("the EventList is too large"))
        try:
            event_list = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _status(errors.BadRequest("the body is not JSON"))
        entries: list[dict[str, Any]] = []
        for event in (event_list or {}).get("items") or []:
            if isinstance(event, dict):
                entries.extend(auditflow.steps(event))
        self.flow.append(entries)
        return _json({"kind": "Status", "apiVersion": "v1", "status": "Success"})

    # --- helpers -------------------------------------------------------------------------------

    async def _call(
        self, request: Request, action: Callable[..., Awaitable[dict]], write: bool, *body: str
    ) -> Response:
        session = self.writer(request) if write else self.session(request)
        if session is None:
            return _status(errors.Unauthorized("sign in first"))
        if isinstance(session, Response):
            return session
        p = request.path_params
        extra: list[Any] = []
        if body:
            try:
                sent = orjson.loads(await request.body() or b"{}")
            except orjson.JSONDecodeError:
                return _status(errors.BadRequest("the body is not JSON"))
            extra = [sent.get(key) if isinstance(sent, dict) else None for key in body]
        try:
            result = await action(session.client, p["plural"], p["namespace"], p["name"], *extra)
        except errors.ApiError as e:
            return _status(e)
        return _json(result)

    def _sse(self, source: AsyncIterator[bytes]) -> Response:
        return StreamingResponse(
            streams.with_keepalive(source, self.settings.stream.keepalive),
            media_type="text/event-stream",
            headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"},
        )


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json",
        headers=SECURITY_HEADERS,
    )  # fmt: skip


def _status(e: errors.ApiError) -> Response:
    return _json(e.to_status(), e.code)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def build(settings: DashboardSettings, store: SessionStore) -> tuple[Starlette, Dashboard]:
    d = Dashboard(settings, store)
    obj = "/api/{verb}/{plural}/{namespace}/{name}"
    routes: list[Any] = [
        Route("/healthz", d.healthz),
        Route("/login", d.login_page, methods=["GET"]),
        Route("/login", d.login_post, methods=["POST"]),
        Route("/logout", d.logout, methods=["POST"]),
        Route("/api/session", d.whoami),
        Route("/api/watch", d.watch),
        Route("/api/log/{namespace}/{name}", d.log),
        Route("/api/flow", d.flow_stream),
        Route("/api/usage", d.node_usage),
        Route("/api/podflow/{namespace}/{name}", d.pod_flow),
        Route(obj.replace("{verb}", "object"), d.get_object),
        Route(obj.replace("{verb}", "yaml"), d.get_yaml, methods=["GET"]),
        Route(obj.replace("{verb}", "yaml"), d.put_yaml, methods=["PUT"]),
        Route(obj.replace("{verb}", "scale"), d.scale, methods=["POST"]),
        Route(obj.replace("{verb}", "restart"), d.restart, methods=["POST"]),
        Route(obj.replace("{verb}", "undo"), d.undo, methods=["POST"]),
        Route(obj.replace("{verb}", "delete"), d.delete, methods=["POST"]),
        Route("/api/run/{namespace}", d.run_pod, methods=["POST"]),
        Route("/api/reveal/secrets/{namespace}/{name}", d.reveal, methods=["POST"]),
        WebSocketRoute("/api/exec/{namespace}/{name}", d.exec_socket),
        Route("/audit/webhook", d.audit_webhook, methods=["POST"]),
        *[Route(page, d.index) for page in PAGES],
    ]
    assets = settings.static_dir / "assets"
    if Path(assets).is_dir():
        routes.append(Mount("/assets", StaticFiles(directory=assets), name="assets"))
    return Starlette(routes=routes), d
