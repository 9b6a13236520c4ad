"""The ServiceAccount token authenticator: a bearer JWT in, the user it names out (or None).

A self-contained module with a one-method interface, `authenticate_token(token) -> UserInfo |
None` (the `TokenAuthenticator` protocol of `authn/chain.py`), one link of the apiserver's
authenticator chain. A token is accepted when
- its signature verifies with one of the `--service-account-key-file` keys, its `iss` is one of
  the `--service-account-issuer`s, its `aud` names one of the `--api-audiences`, and it is
  within `nbf`..`exp` (with go-jose's one minute of leeway, as Kubernetes);
- the ServiceAccount it names still exists with the uid in the token, and so does the object it
  is bound to (a Pod, a Secret or a Node): a token dies with its pod. An object being deleted
  keeps its tokens valid for 60 s after its deletionTimestamp, as in Kubernetes.

The signature and claims are checked once per token: the result is cached (bounded, by token)
until the token expires, so a token's later requests cost a dict lookup and the uid checks
against the watch cache (`lookup`), which still reject it the moment its objects go.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import jwt

from minik8s.api import times
from minik8s.api.meta import Object
from minik8s.api.resources import NODES, PODS, SECRETS, SERVICEACCOUNTS, ResourceType
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.serviceaccount import keys, tokens

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
DELETION_GRACE_SECONDS = 60
AUTHENTICATED = "system:authenticated"
EXTRA_PREFIX = "authentication.kubernetes.io/"
_BOUND_KINDS: dict[str, ResourceType] = {"pod": PODS, "secret": SECRETS, "node": NODES}


class Lookup(Protocol):
    """The current object (from the watch cache), or None when it does not exist."""

    def __call__(
        self, resource: ResourceType, namespace: str | None, name: str
    ) -> Object | None: ...


@dataclass(frozen=True)
class _Verified:
    """What a valid token's signature and claims established, kept while it lives."""

    user: UserInfo
    expires: float
    not_before: float
    namespace: str
    checks: tuple[tuple[ResourceType, str | None, str, str], ...]
    """(resource, namespace, name, uid) of every object that must still exist."""


class ServiceAccountAuthenticator:
    """A `TokenAuthenticator` of the apiserver's chain (`authn/chain.py`)."""

    name = "service-account"

    def __init__(
        self,
        verification_keys: Sequence[keys.VerificationKey],
        issuers: Sequence[str],
        audiences: Sequence[str],
        lookup: Lookup | None = None,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = {k.kid: k for k in verification_keys}
        self._issuers = set(issuers)
        self._audiences = list(audiences)
        self._algorithms = sorted({k.algorithm for k in verification_keys})
        self.lookup = lookup
        """Set once the watch cache exists; without it every token is refused."""
        self._clock = clock
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size

    def authenticate(self, token: str) -> UserInfo | None:
        """The user a service account token stands for; None when it is not one, or invalid."""
        verified = self._cache.get(token)
        if verified is None:
            if token.count(".") != 2:
                return None  # not a JWT: some other authenticator's token
            verified = self._verify(token)
            if verified is None:
                return None
            self._remember(token, verified)
        now = self._clock()
        if now > verified.expires + LEEWAY_SECONDS:
            self._cache.pop(token, None)
            return None
        if now < verified.not_before - LEEWAY_SECONDS or not self._objects_exist(verified, now):
            return None
        return verified.user

    def authenticate_token(self, token: str) -> UserInfo | None:
        """The chain's interface (`TokenAuthenticator`)."""
        return self.authenticate(token)

    def authenticate_header(self, header: str | None) -> UserInfo | None:
        if not header or not header[:7].lower() == "bearer ":
            return None
        return self.authenticate(header[7:].strip())

    def _remember(self, token: str, verified: _Verified) -> None:
        self._cache[token] = verified
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _verify(self, token: str) -> _Verified | None:
        try:
            header = jwt.get_unverified_header(token)
            candidates = (
                [self._keys[header["kid"]]]
                if header.get("kid") in self._keys
                else list(self._keys.values())
            )
            claims = None
            for key in candidates:
                try:
                    claims = jwt.decode(
                        token,
                        key.key,
                        algorithms=self._algorithms,
                        audience=self._audiences,
                        # exp and nbf are checked on every request, against `clock`.
                        options={
                            "require": ["exp", "iss", "sub"],
                            "verify_iss": False,
                            "verify_exp": False,
                            "verify_nbf": False,
                            "verify_iat": False,
                        },
                    )
                    break
                except jwt.InvalidSignatureError:
                    continue
            if claims is None:
                raise jwt.InvalidSignatureError("no service account key verifies the signature")
        except jwt.PyJWTError as e:
            logger.debug("service account token refused: %s", e)
            return None
        if claims.get("iss") not in self._issuers:
            return None  # a JWT of another issuer (e.g. an OIDC provider)
        return _from_claims(claims)

    def _objects_exist(self, verified: _Verified, now: float) -> bool:
        lookup = self.lookup
        if lookup is None:
            return False
        for resource, namespace, name, uid in verified.checks:
            obj = lookup(resource, namespace, name)
            if obj is None:
                logger.debug("token of %s refused: %s %s is gone", verified.user.name,
                             resource.kind, name)  # fmt: skip
                return False
            meta = obj["metadata"]
            if meta.get("uid") != uid:
                return False
            deleting = meta.get("deletionTimestamp")
            deleted_at = times.parse_timestamp(deleting) if deleting else None
            if deleted_at is not None and deleted_at + DELETION_GRACE_SECONDS < now:
                return False
        return True


def _from_claims(claims: Object) -> _Verified | None:
    private = claims.get(tokens.PRIVATE_CLAIM)
    if not isinstance(private, dict):
        return None
    namespace = private.get("namespace")
    account = private.get("serviceaccount") or {}
    if not namespace or not account.get("name") or not account.get("uid"):
        return None
    if claims.get("sub") != tokens.username(namespace, account["name"]):
        return None
    checks: list[tuple[ResourceType, str | None, str, str]] = [
        (SERVICEACCOUNTS, namespace, account["name"], account["uid"])
    ]
    extra: list[tuple[str, tuple[str, ...]]] = []
    for kind, resource in _BOUND_KINDS.items():
        ref = private.get(kind)
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        extra.append((f"{EXTRA_PREFIX}{kind}-name", (str(ref["name"]),)))
        extra.append((f"{EXTRA_PREFIX}{kind}-uid", (str(ref.get("uid") or ""),)))
        # A pod-bound token names its node for information: only a Node-bound one dies with it.
        if kind != "node" or not any(private.get(k) for k in ("pod", "secret")):
            checks.append(
                (resource, None if kind == "node" else namespace, ref["name"], ref.get("uid", ""))
            )
    if claims.get("jti"):
        extra.append((f"{EXTRA_PREFIX}credential-id", (f"JTI={claims['jti']}",)))
    user = UserInfo(
        tokens.username(namespace, account["name"]),
        account["uid"],
        (*tokens.groups(namespace), AUTHENTICATED),
        tuple(sorted(extra)),
    )
    return _Verified(
        user,
        float(claims["exp"]),
        float(claims.get("nbf") or claims.get("iat") or 0),
        namespace,
        tuple(checks),
    )
