"""Signed-in users: a random session id (the HttpOnly cookie) -> the user's API client.

Each session holds its own `ApiClient`, built from the dashboard's view of the apiserver
(server URL, CA) and the user's credential: every request the dashboard makes for that user
is authenticated, authorized and audited as the user. Sessions expire after a period of
inactivity and at most `max_age` after sign-in; the client is closed then.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from dataclasses import dataclass, field

from minik8s.client import tasks
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.kubeconfig import ClientConfig
from minik8s.dashboard.grants import Credential

logger = logging.getLogger(__name__)

COOKIE = "minik8s-dashboard-session"


@dataclass
class Session:
    id: str
    user: str
    groups: list[str]
    csrf: str
    """Sent back by the page in `X-CSRF-Token` on every write."""
    client: ApiClient
    config: ClientConfig
    created: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)


class SessionStore:
    def __init__(self, base: ClientConfig, idle_timeout: float, max_age: float) -> None:
        self._base = base
        self._idle = idle_timeout
        self._max_age = max_age
        self._sessions: dict[str, Session] = {}

    def config_for(self, credential: Credential) -> ClientConfig:
        """The dashboard's server and CA with the user's credential (nothing of its own)."""
        return dataclasses.replace(
            self._base,
            token=credential.token,
            client_certificate=None,
            client_key=None,
            client_certificate_data=credential.client_certificate_data,
            client_key_data=credential.client_key_data,
        )

    def client_for(self, config: ClientConfig) -> ApiClient:
        return ApiClient(config, ClientSettings(user_agent="minik8s-dashboard/0.1"))

    def add(self, user: str, groups: list[str], client: ApiClient) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            user=user,
            groups=groups,
            csrf=secrets.token_urlsafe(24),
            client=client,
            config=client.config,
        )
        self._sessions[session.id] = session
        logger.info("session for %s started", user)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self._idle or now - session.created > self._max_age:
            self._drop(session_id)
            return None
        session.seen = now
        return session

    async def remove(self, session_id: str | None) -> None:
        session = self._sessions.pop(session_id or "", None)
        if session is not None:
            logger.info("session for %s ended", session.user)
            await session.client.aclose()

    def _drop(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            logger.info("session for %s expired", session.user)
            tasks.spawn(session.client.aclose(), f"close the session of {session.user}")

    async def close(self) -> None:
        for session_id in list(self._sessions):
            await self.remove(session_id)
