"""The apiserver's auditing: the policy, the backends, and an `AuditContext` per request."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any, Protocol

from minik8s.apiserver.audit import event as events
from minik8s.apiserver.audit import metrics
from minik8s.apiserver.audit.context import AuditContext
from minik8s.apiserver.audit.policy import REQUEST_RECEIVED, Policy
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes

logger = logging.getLogger(__name__)

AUDIT_ID_HEADER = b"audit-id"


class Backend(Protocol):
    name: str

    def process(self, event: Any) -> None:
        """Take one event without blocking (drop and count it when full)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Deliver what is buffered, within a bounded time."""


class Auditor:
    def __init__(self, policy: Policy, backends: Sequence[Backend]) -> None:
        self.policy = policy
        self.backends = tuple(backends)

    def begin(
        self, scope: Any, audit_id: str, received: float, user: UserInfo, attrs: Attributes
    ) -> AuditContext | None:
        """The request's context and its RequestReceived event; None when the policy says
        None for it."""
        config = self.policy.evaluate(user, attrs)
        metrics.observe_level(config.level)
        if not config.enabled:
            return None
        context = AuditContext(
            self.process,
            config,
            audit_id,
            scope,
            user,
            attrs.verb,
            events.object_ref(attrs),
            events.is_long_running(attrs),
            received,
        )
        context.emit(REQUEST_RECEIVED)
        return context

    def failed_authentication(
        self, scope: Any, audit_id: str, received: float, attrs: Attributes
    ) -> AuditContext | None:
        """A 401's context: no user (rules naming users or groups do not match), one event."""
        config = self.policy.evaluate(None, attrs)
        metrics.observe_level(config.level)
        if not config.enabled:
            return None
        return AuditContext(
            self.process,
            config,
            audit_id,
            scope,
            None,
            attrs.verb,
            events.object_ref(attrs),
            False,
            received,
        )

    def process(self, event: Any) -> None:
        for backend in self.backends:
            backend.process(event)

    async def start(self) -> None:
        for backend in self.backends:
            await backend.start()
        logger.info(
            "auditing with %d policy rules to %s",
            len(self.policy.rules),
            ", ".join(b.name for b in self.backends),
        )

    async def stop(self) -> None:
        for backend in self.backends:
            try:
                await backend.stop()
            except Exception:
                logger.exception("stopping the audit %s backend failed", backend.name)


def audit_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's `Audit-ID` header as sent (Kubernetes keeps a caller's, untruncated),
    else a new UUID."""
    for key, value in headers:
        if key == AUDIT_ID_HEADER and value:
            return value.decode("latin-1")
    return new_uuid()


UUID_VERSION_4 = (0x4 << 76) | (0x2 << 62)
UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))


def new_uuid() -> str:
    """A random version 4 UUID. An audit ID is an identifier, not a secret (callers may send
    their own): it comes from Python's generator, seeded from the OS, without a system call
    per request (uuid.uuid4() costs 2-3x as much)."""
    h = f"{_random.getrandbits(128) & UUID_CLEAR | UUID_VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_random = random.Random()
