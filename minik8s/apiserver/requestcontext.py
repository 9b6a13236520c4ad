"""Who the current request is, for code below the handlers (admission, audit).

The front (`asgi.py`) sets these once it has authenticated and authorized a request; they
are context variables, so each request's task sees its own (Go's request context).
"""

from __future__ import annotations

from contextvars import ContextVar

from minik8s.apiserver.authn.user import ANONYMOUS_USER, UserInfo

SCOPE_USER = "minik8s.user"
"""ASGI scope key of the request's (possibly impersonated) `UserInfo`."""

USER: ContextVar[UserInfo] = ContextVar("minik8s_user", default=ANONYMOUS_USER)


def current_user() -> UserInfo:
    return USER.get()
