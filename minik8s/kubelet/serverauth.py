"""Who may use the kubelet's API, as Kubernetes' kubelet decides it (webhook authn and authz).

Authentication: a client certificate verified against `--client-ca-file` (the apiserver shows
its `--kubelet-client-certificate`), else a bearer token checked by the apiserver with a
TokenReview (`--authentication-token-webhook`), else anonymous when `--anonymous-auth`, else
401. Authorization (`--authorization-mode=Webhook`): a SubjectAccessReview asking whether the
caller may `<verb>` the resource `nodes/<subresource>` named after this node, the subresource
coming from the path as the kubelet maps it (`/stats` → stats, `/metrics` → metrics,
`/logs` → log, `/spec` → spec, `/checkpoint` → checkpoint, anything else — exec,
containerLogs, pods, healthz — → proxy) and the verb from the method. Answers are cached as
the kubelet caches them: tokens 2 min, allowed 5 min, denied 30 s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors, resources
from minik8s.api.meta import Object
from minik8s.client.api import ApiClient
from minik8s.componentbase import tlspeer

logger = logging.getLogger(__name__)

ANONYMOUS = ("system:anonymous", ("system:unauthenticated",))
SUBRESOURCE_PATHS = (
    ("/stats", "stats"),
    ("/metrics", "metrics"),
    ("/logs", "log"),
    ("/spec", "spec"),
    ("/checkpoint", "checkpoint"),
)
METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
CACHE_LIMIT = 4096


@dataclass(frozen=True)
class Caller:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class AuthSettings:
    client_ca: bool = False
    """Client certificates are accepted (uvicorn verifies them against --client-ca-file)."""
    token_webhook: bool = False
    """Bearer tokens are checked with a TokenReview."""
    anonymous: bool = True
    authorization_mode: str = "AlwaysAllow"
    """AlwaysAllow or Webhook (a SubjectAccessReview per new question)."""
    token_ttl: float = 120.0
    allowed_ttl: float = 300.0
    denied_ttl: float = 30.0


def subresource_of(path: str) -> str:
    for prefix, subresource in SUBRESOURCE_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return subresource
    return "proxy"


def _bearer(scope: Any) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


@dataclass
class _Cache:
    entries: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> Any:
        found = self.entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if len(self.entries) >= CACHE_LIMIT:
            self.entries.clear()
        self.entries[key] = (time.monotonic() + ttl, value)


class KubeletAuth:
    def __init__(self, client: ApiClient, node: str, settings: AuthSettings) -> None:
        self.client = client
        self.node = node
        self.settings = settings
        self._tokens = _Cache()
        self._decisions = _Cache()

    async def authenticate(self, scope: Any) -> Caller | None:
        """The caller, or None for 401."""
        if self.settings.client_ca:
            subject = tlspeer.peer_subject(scope)
            if subject is not None:
                return Caller(subject[0], (*subject[1], "system:authenticated"))
        token = _bearer(scope)
        if token is None:
            return Caller(*ANONYMOUS) if self.settings.anonymous else None
        if not self.settings.token_webhook:
            return None
        return await self._token(token)

    async def _token(self, token: str) -> Caller | None:
        cached = self._tokens.get(token)
        if cached is not None:
            return cached if isinstance(cached, Caller) else None
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        try:
            answer = await self.client.create(resources.TOKENREVIEWS, review)
        except errors.ApiError as e:
            logger.warning("TokenReview failed: %s", e.message)
            return None
        status = answer.get("status") or {}
        caller: Caller | None = None
        if status.get("authenticated"):
            info = status.get("user") or {}
            extra = info.get("extra") or {}
            caller = Caller(
                str(info.get("username") or ""),
                tuple(info.get("groups") or ()),
                str(info.get("uid") or ""),
                tuple(sorted((k, tuple(v)) for k, v in extra.items())),
            )
        self._tokens.put(token, caller or False, self.settings.token_ttl)
        return caller

    async def authorize(self, caller: Caller, method: str, path: str) -> str | None:
        """None when allowed, else the 403's text (Kubernetes' kubelet wording)."""
        verb = METHOD_VERBS.get(method, method.lower())
        subresource = subresource_of(path)
        if self.settings.authorization_mode == "AlwaysAllow":
            return None
        key = (caller, verb, subresource)
        allowed = self._decisions.get(key)
        if allowed is None:
            answer = await self._review(caller, verb, subresource)
            allowed = bool(answer)
            if answer is not None:  # an apiserver that did not answer is asked again
                ttl = self.settings.allowed_ttl if allowed else self.settings.denied_ttl
                self._decisions.put(key, allowed, ttl)
        if allowed:
            return None
        return (
            f"Forbidden (user={caller.name}, verb={verb}, resource=nodes, "
            f"subresource(s)=[{subresource}])"
        )

    async def _review(self, caller: Caller, verb: str, subresource: str) -> bool | None:
        review: Object = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": caller.name,
                "groups": list(caller.groups),
                "resourceAttributes": {
                    "verb": verb,
                    "version": "v1",
                    "resource": "nodes",
                    "subresource": subresource,
                    "name": self.node,
                },
            },
        }
        if caller.uid:
            review["spec"]["uid"] = caller.uid
        if caller.extra:
            review["spec"]["extra"] = {k: list(v) for k, v in caller.extra}
        try:
            answer = await self.client.create(resources.SUBJECTACCESSREVIEWS, review)
        except errors.ApiError as e:
            logger.warning("SubjectAccessReview failed: %s", e.message)
            return None
        return bool((answer.get("status") or {}).get("allowed"))


class AuthMiddleware:
    """The kubelet API's filter: 401 without a valid credential, 403 without permission."""

    def __init__(self, app: Any, auth: KubeletAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        caller = await self.auth.authenticate(scope)
        if caller is None:
            await _plain(scope, send, 401, "Unauthorized")
            return
        method = scope.get("method", "GET")
        denied = await self.auth.authorize(caller, method, scope["path"])
        if denied is not None:
            await _plain(scope, send, 403, denied)
            return
        await self.app(scope, receive, send)


async def _plain(scope: Any, send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
