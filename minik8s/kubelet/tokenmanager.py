"""The kubelet's service account token manager: one TokenRequest per pod and audience, bound
to the pod, kept in memory and renewed before it expires.

As Kubernetes' token manager: a token is requested again once it is older than 80% of its
lifetime (or 24 h); the pod worker syncs the pod at that moment (`next_refresh`), which
rewrites the projected volume with the new token. Tokens of a removed pod are forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from minik8s.api import times
from minik8s.api.meta import Object, name_of, namespace_of, uid_of
from minik8s.api.resources import SERVICEACCOUNTS
from minik8s.client.api import ApiClient

logger = logging.getLogger(__name__)

REFRESH_FRACTION = 0.8
MAX_TOKEN_AGE = 24 * 3600.0


@dataclass(frozen=True)
class Token:
    value: str
    issued: float
    expires: float

    def refresh_at(self) -> float:
        """When to ask again: at 80% of the lifetime, or after 24 h."""
        lifetime = self.expires - self.issued
        return self.issued + min(lifetime * REFRESH_FRACTION, MAX_TOKEN_AGE)


class TokenManager:
    def __init__(self, client: ApiClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._tokens: dict[tuple[str, str, str, int], Token] = {}
        """(pod uid, ServiceAccount, audience, expirationSeconds) → token."""

    async def token(self, pod: Object, audience: str, expiration_seconds: int) -> str:
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        key = (uid_of(pod), account, audience, expiration_seconds)
        cached = self._tokens.get(key)
        now = self.clock()
        if cached is not None and now < cached.refresh_at():
            return cached.value
        token = await self._request(pod, account, audience, expiration_seconds, now)
        self._tokens[key] = token
        if cached is not None:
            logger.info("%s/%s: service account token renewed (expires %s)", namespace_of(pod),
                        name_of(pod), times.format_timestamp(token.expires))  # fmt: skip
        return token.value

    def next_refresh(self, pod_uid: str) -> float | None:
        """When the pod's earliest token is due for renewal (None: it has none)."""
        due = [t.refresh_at() for k, t in self._tokens.items() if k[0] == pod_uid]
        return min(due) if due else None

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == pod_uid]:
            del self._tokens[key]

    async def _request(
        self, pod: Object, account: str, audience: str, seconds: int, now: float
    ) -> Token:
        spec: Object = {
            "expirationSeconds": seconds,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name_of(pod),
                               "uid": uid_of(pod)},
        }  # fmt: skip
        if audience:
            spec["audiences"] = [audience]
        path = SERVICEACCOUNTS.object_path(namespace_of(pod), account) + "/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        review = await self.client.request("POST", path, json=body)
        status = review["status"]
        expires = times.parse_timestamp(status["expirationTimestamp"]) or now + seconds
        return Token(status["token"], now, expires)
