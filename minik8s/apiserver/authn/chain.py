"""The authenticator chain: client certificate, then bearer tokens, then anonymous.

As in Kubernetes' union authenticator: the first authenticator that recognises the request
wins; a request that presents a bearer token nobody recognises is a 401, never anonymous;
only a request that presents no credential at all becomes `system:anonymous` (in group
`system:unauthenticated`), with `--anonymous-auth` (else only for the health and version
endpoints). Every authenticated user also gets the group `system:authenticated`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.componentbase import tlspeer

logger = logging.getLogger(__name__)

WEBSOCKET_TOKEN_PREFIX = "base64url.bearer.authorization.k8s.io."
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
"""Answered without credentials even when anonymous requests are off (as Kubernetes 1.32's
anonymous-authentication conditions allow): probes and version negotiation."""
"""Browsers cannot set headers on a WebSocket: Kubernetes takes the token from a subprotocol."""


class TokenAuthenticator(Protocol):
    """One bearer-token authenticator: the token in, who it is (or None: not mine) out.

    It runs on the event loop for every request that carries a token: it must answer from
    memory (verify a signature, look up a cache), never block. An exception counts as a
    rejected token (401) and is logged.
    """

    name: str

    def authenticate_token(self, token: str) -> UserInfo | None: ...


@dataclass
class Authenticator:
    """The apiserver's chain; `enabled` is False when no credential is checked at all."""

    token_authenticators: list[TokenAuthenticator] = field(default_factory=list)
    client_certificates: bool = False
    """Accept client certificates (the server verifies them against `--client-ca-file`)."""
    anonymous: bool = True
    """Requests without credentials are `system:anonymous` (else 401)."""

    @property
    def enabled(self) -> bool:
        return bool(self.token_authenticators) or self.client_certificates

    def authenticate_token(self, token: str) -> UserInfo | None:
        """Who a bearer token is, over every token authenticator (also for TokenReview)."""
        if not token:
            return None
        for authenticator in self.token_authenticators:
            try:
                found = authenticator.authenticate_token(token)
            except Exception:
                logger.warning("token authenticator %s failed", authenticator.name, exc_info=True)
                return None
            if found is not None:
                return users.with_authenticated_group(found)
        return None

    def authenticate(self, scope: Any) -> UserInfo | None:
        """Who the request is; None means 401 Unauthorized."""
        if not self.enabled:
            return users.ANONYMOUS_USER
        if self.client_certificates:
            subject = tlspeer.peer_subject(scope)
            if subject is not None:
                return UserInfo(subject[0], "", (*subject[1], users.ALL_AUTHENTICATED))
        token = bearer_token(scope)
        if token is None:
            if self.anonymous or scope["path"] in PUBLIC_PATHS:
                return users.ANONYMOUS_USER
            return None
        return self.authenticate_token(token)


def bearer_token(scope: Any) -> str | None:
    """The request's bearer token: None when it presents none ("" when it is malformed)."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None  # `Bearer` with nothing after it: no credential
    if scope["type"] == "websocket":
        for offered in scope.get("subprotocols") or ():
            if offered.startswith(WEBSOCKET_TOKEN_PREFIX):
                encoded = offered[len(WEBSOCKET_TOKEN_PREFIX) :]
                try:
                    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                    return raw.decode("utf-8")
                except (binascii.Error, ValueError):
                    return ""
    return None
