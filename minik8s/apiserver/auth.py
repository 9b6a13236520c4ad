"""Bearer-token authentication from a Kubernetes static token file, as ASGI middleware."""

from __future__ import annotations

import csv
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from minik8s.api import errors

PUBLIC_PATHS = ("/healthz", "/readyz", "/livez", "/version")
SCOPE_USER = "minik8s.user"
"""ASGI scope key of the authenticated `User` of a request (absent without token auth)."""


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Kubernetes' user.Info extra: (key, values) pairs, sorted by key."""


ANONYMOUS = User("system:anonymous", "", ("system:unauthenticated",))
"""Who a request is when the apiserver runs without token authentication."""


def self_subject_review(user: User) -> dict[str, Any]:
    """The answer to POST selfsubjectreviews (`kubectl auth whoami`): who the caller is."""
    info: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {key: list(values) for key, values in user.extra}
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": info},
    }


def load_token_file(path: str | Path) -> dict[str, User]:
    """Parse `token,user,uid,"group1,group2"` lines (Kubernetes' --token-auth-file)."""
    users: dict[str, User] = {}
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f'{path}:{line_no}: expected token,user,uid[,"groups"]')
            groups = tuple(g for g in (row[3].split(",") if len(row) > 3 else []) if g)
            users[row[0].strip()] = User(row[1].strip(), row[2].strip(), groups)
    return users


def authenticate(tokens: dict[str, User], header: str | None) -> User | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    presented = header[7:].strip()
    for token, user in tokens.items():
        if hmac.compare_digest(token, presented):
            return user
    return None


class TokenAuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        tokens: dict[str, User],
        extra: Callable[[str | None], User | None] | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.extra = extra
        """Another authenticator of the header (ServiceAccount tokens), tried second."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        user = authenticate(self.tokens, header)
        if user is None and self.extra is not None:
            user = self.extra(header)
        if user is None:
            body = orjson.dumps(errors.Unauthorized("Unauthorized").to_status()) + b"\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)
