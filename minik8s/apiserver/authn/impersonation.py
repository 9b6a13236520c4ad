"""`Impersonate-User`, `-Group`, `-Uid`, `-Extra-<key>`: act as another user (kubectl --as).

As Kubernetes' impersonation filter: the requestor must be allowed the verb `impersonate` on
each thing asked for — `users` (or `serviceaccounts` in their namespace for
`system:serviceaccount:<ns>:<name>`), `groups`, `uids` and `userextras/<key>` — and then the
request runs as the impersonated user. Groups are exactly those asked for (a ServiceAccount
gets its fixed groups when none are), plus `system:authenticated` unless
`system:unauthenticated` is among them. Groups, uid or extras without a user are a 400
(Kubernetes answers 500 there; minik8s never does).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from minik8s.api import errors
from minik8s.apiserver.authn import user as users
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz import forbidden
from minik8s.apiserver.authz.authorizer import Decision
from minik8s.apiserver.requestinfo import Attributes

PREFIX = b"impersonate-"
EXTRA_PREFIX = b"impersonate-extra-"
AUTHN_GROUP = "authentication.k8s.io"

Authorize = Callable[[Attributes], tuple[Decision, str]]


def requested(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request asks to impersonate anyone (a cheap scan of header names)."""
    return any(key.startswith(PREFIX) for key, _ in headers)


def impersonate(
    requestor: UserInfo, headers: list[tuple[bytes, bytes]], authorize: Authorize
) -> UserInfo:
    """The user the request acts as; 403 when the requestor may not, 400 when malformed."""
    name = ""
    uid = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    checks: list[Attributes] = []
    groups_given = False
    for key, raw in headers:
        if not key.startswith(PREFIX):
            continue
        value = raw.decode("latin-1").strip()
        if key == b"impersonate-user":
            name = value
        elif key == b"impersonate-group":
            groups_given = True
            groups.append(value)
            checks.append(Attributes(requestor, "impersonate", resource="groups", name=value))
        elif key == b"impersonate-uid":
            uid = value
            checks.append(
                Attributes(
                    requestor, "impersonate", api_group=AUTHN_GROUP, resource="uids", name=value
                )
            )
        elif key.startswith(EXTRA_PREFIX):
            extra_key = unquote(key[len(EXTRA_PREFIX) :].decode("latin-1").lower())
            extra.setdefault(extra_key, []).append(value)
            checks.append(
                Attributes(
                    requestor,
                    "impersonate",
                    api_group=AUTHN_GROUP,
                    resource="userextras",
                    subresource=extra_key,
                    name=value,
                )
            )
    if not name:
        if checks:
            raise errors.BadRequest(
                "requested impersonation of groups, a uid or extras without impersonating a user"
            )
        return requestor
    account = users.split_service_account(name)
    if account is not None:
        checks.insert(
            0,
            Attributes(
                requestor,
                "impersonate",
                namespace=account[0],
                resource="serviceaccounts",
                name=account[1],
            ),
        )
        if not groups_given:
            groups = list(users.service_account_groups(account[0]))
    else:
        checks.insert(0, Attributes(requestor, "impersonate", resource="users", name=name))
    for attrs in checks:
        decision, reason = authorize(attrs)
        if decision is not Decision.ALLOW:
            raise forbidden.forbidden(attrs, reason)
    if name != users.ANONYMOUS:
        if users.ALL_AUTHENTICATED not in groups and users.ALL_UNAUTHENTICATED not in groups:
            groups.append(users.ALL_AUTHENTICATED)
    elif users.ALL_UNAUTHENTICATED not in groups:
        groups.append(users.ALL_UNAUTHENTICATED)
    return UserInfo(name, uid, tuple(groups), users.make_extra(extra))
