"""The bootstrap token authenticator (`--enable-bootstrap-token-auth`), as Kubernetes':
`<id>.<secret>` is the user `system:bootstrap:<id>` in `system:bootstrappers` (and the
Secret's `auth-extra-groups`) while `kube-system/bootstrap-token-<id>` exists, is not being
deleted, allows authentication, has not expired and holds that secret. The Secret is read from
the watch cache (bound at start), so a deleted or expired token stops working at once."""

from __future__ import annotations

import datetime
import hmac
import logging
from collections.abc import Callable

from minik8s.api import bootstraptoken
from minik8s.api.meta import Object
from minik8s.apiserver.authn.user import UserInfo

logger = logging.getLogger(__name__)

SecretLookup = Callable[[str], Object | None]
"""Secret name in kube-system -> the Secret (None: absent)."""


class BootstrapTokenAuthenticator:
    name = "bootstrap-token"

    def __init__(self) -> None:
        self._lookup: SecretLookup | None = None

    def bind(self, lookup: SecretLookup) -> None:
        self._lookup = lookup

    def authenticate_token(self, token: str) -> UserInfo | None:
        match = bootstraptoken.TOKEN_RE.match(token)
        if match is None or self._lookup is None:
            return None
        token_id, token_secret = match.group(1), match.group(2)
        secret = self._lookup(bootstraptoken.secret_name(token_id))
        if secret is None:
            logger.debug("bootstrap token %s: no secret", token_id)
            return None
        data = bootstraptoken.secret_data(secret)
        if not hmac.compare_digest(
            data.get(bootstraptoken.SECRET_KEY, "").encode(), token_secret.encode()
        ):
            logger.debug("bootstrap token %s: secret does not match", token_id)
            return None
        now = datetime.datetime.now(datetime.UTC)
        if not bootstraptoken.usable_for(secret, "authentication", now):
            logger.debug(
                "bootstrap token %s: expired, deleting or not for authentication", token_id
            )
            return None
        groups = bootstraptoken.extra_groups(secret)
        if any(not bootstraptoken.GROUP_RE.match(g) for g in groups):
            logger.debug("bootstrap token %s: invalid auth-extra-groups", token_id)
            return None
        return UserInfo(
            f"{bootstraptoken.USER_PREFIX}{token_id}",
            "",
            (bootstraptoken.GROUP, *(g for g in groups if g != bootstraptoken.GROUP)),
        )
