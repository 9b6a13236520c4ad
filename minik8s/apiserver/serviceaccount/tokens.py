"""Bound service account tokens: Kubernetes' JWT claims (pure) and their signing.

```json
{"aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 1700003600,
 "iat": 1700000000, "nbf": 1700000000, "iss": "https://kubernetes.default.svc.cluster.local",
 "jti": "…uuid…", "sub": "system:serviceaccount:default:builder",
 "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "builder", "uid": "…"},
                   "pod": {"name": "web-1", "uid": "…"}, "node": {"name": "node-1", "uid": "…"}}}
```
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from minik8s.api.meta import Object
from minik8s.apiserver.serviceaccount import keys

USERNAME_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
PRIVATE_CLAIM = "kubernetes.io"


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


def split_username(user: str) -> tuple[str, str] | None:
    """(namespace, name) of `system:serviceaccount:<ns>:<name>`; None for other users."""
    if not user.startswith(USERNAME_PREFIX):
        return None
    namespace, sep, name = user[len(USERNAME_PREFIX) :].partition(":")
    return (namespace, name) if sep and namespace and name and ":" not in name else None


def groups(namespace: str) -> tuple[str, ...]:
    return (ALL_SERVICE_ACCOUNTS_GROUP, f"{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}")


@dataclass(frozen=True)
class Bound:
    """An object a token is bound to (a Pod, a Secret or a Node): name and uid."""

    kind: str
    name: str
    uid: str


def claims(
    issuer: str,
    audiences: list[str],
    account: Object,
    now: int,
    expiration_seconds: int,
    bound: Bound | None = None,
    node: Bound | None = None,
) -> Object:
    """The claims of a token for `account`, issued at `now` (Unix seconds)."""
    meta = account["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    private: Object = {
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": meta.get("uid", "")},
    }
    if bound is not None:
        private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
    if node is not None:
        private["node"] = {"name": node.name, "uid": node.uid}
    return {
        "aud": list(audiences),
        "exp": now + expiration_seconds,
        "iat": now,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "sub": username(namespace, name),
        PRIVATE_CLAIM: private,
    }


class TokenIssuer:
    """Signs claims with the service account signing key (RS256, or ES256/384/512)."""

    def __init__(self, signing_key: keys.PrivateKey, issuer: str, audiences: list[str]) -> None:
        self.issuer = issuer
        self.audiences = audiences
        self._key = signing_key
        public = signing_key.public_key()
        self._kid = keys.key_id(public)
        self._algorithm = keys.algorithm(public)

    def sign(self, token_claims: Object) -> str:
        return jwt.encode(
            token_claims, self._key, algorithm=self._algorithm, headers={"kid": self._kid}
        )
