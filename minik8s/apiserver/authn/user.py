"""Who a request is: Kubernetes' user.Info (name, uid, groups, extra) and the well-known names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minik8s.api.users import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    NODE_USER_PREFIX,
    NODES_GROUP,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_ACCOUNTS_GROUP,
    SYSTEM_PRIVILEGED_GROUP,
)

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_UNAUTHENTICATED",
    "ANONYMOUS",
    "ANONYMOUS_USER",
    "NODES_GROUP",
    "NODE_USER_PREFIX",
    "SERVICE_ACCOUNTS_GROUP",
    "SERVICE_ACCOUNT_PREFIX",
    "SYSTEM_PRIVILEGED_GROUP",
    "UserInfo",
]

Extra = tuple[tuple[str, tuple[str, ...]], ...]
"""`user.Info.extra` as sorted (key, values) pairs, so a UserInfo is hashable."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or anonymous) user; hashable, so decisions can be cached by it."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Extra = ()

    def extra_dict(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self.extra}

    def to_dict(self) -> dict[str, Any]:
        """The `UserInfo` of TokenReview and SelfSubjectReview status."""
        info: dict[str, Any] = {"username": self.name}
        if self.uid:
            info["uid"] = self.uid
        if self.groups:
            info["groups"] = list(self.groups)
        if self.extra:
            info["extra"] = self.extra_dict()
        return info


def make_extra(extra: Mapping[str, Sequence[str]] | None) -> Extra:
    if not extra:
        return ()
    return tuple(sorted((str(k), tuple(str(v) for v in values)) for k, values in extra.items()))


ANONYMOUS_USER = UserInfo(ANONYMOUS, "", (ALL_UNAUTHENTICATED,))
"""Who a request without credentials is (with `--anonymous-auth`)."""


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """Kubernetes' AuthenticatedGroupAdder: every authenticated user is in system:authenticated."""
    if ALL_AUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, ALL_AUTHENTICATED), user.extra)


def node_name(user: UserInfo) -> str | None:
    """The node a kubelet credential belongs to (`system:node:<name>` in `system:nodes`)."""
    if not user.name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in user.groups:
        return None
    return user.name[len(NODE_USER_PREFIX) :]


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def split_service_account(name: str) -> tuple[str, str] | None:
    """(namespace, name) of `system:serviceaccount:<ns>:<name>`, else None."""
    if not name.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, sep, account = name[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
    if not sep or not namespace or not account or ":" in account:
        return None
    return namespace, account
