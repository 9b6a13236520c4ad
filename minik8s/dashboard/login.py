"""Signing in: a one-time code from `minik8s dashboard`, or a bearer token typed in a form.

Either way the credential is checked with a SelfSubjectReview (the apiserver says who it
is), a session is made, and the answer is a 303 to `/` with the session in an HttpOnly,
SameSite=Strict cookie: the code is spent, and no credential is ever left in a URL.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from minik8s.api import errors, resources
from minik8s.dashboard import grants
from minik8s.dashboard.grants import Credential
from minik8s.dashboard.sessions import COOKIE, Session, SessionStore

logger = logging.getLogger(__name__)

MAX_FORM = 32 << 10

FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · minik8s dashboard</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;margin:0;display:grid;place-items:center;
min-height:100vh;background:#f4f5f7;color:#1b1f24}}
main{{background:#fff;padding:2rem;border-radius:8px;max-width:32rem;width:90%;
box-shadow:0 1px 4px #0002}}
label{{display:block;font-weight:600;margin:.5rem 0}}
textarea{{width:100%;box-sizing:border-box;font:14px monospace;min-height:6rem}}
button{{margin-top:1rem;font:inherit;padding:.5rem 1.25rem;background:#0b57d0;color:#fff;
border:0;border-radius:4px;cursor:pointer}}
button:focus-visible,textarea:focus-visible{{outline:3px solid #f9ab00;outline-offset:2px}}
.error{{background:#fde7e9;border-left:4px solid #b3261e;padding:.5rem 1rem}}
code{{background:#eef;padding:0 .25rem}}
</style></head>
<body><main>
<h1>minik8s dashboard</h1>
{error}
<p>Run <code>minik8s dashboard</code> for a one-time sign-in link, or paste a bearer token
(a ServiceAccount token from <code>kubectl create token NAME</code>). The dashboard acts with
your credential only: what RBAC does not allow you, it cannot do either.</p>
<form method="post" action="/login">
<label for="token">Bearer token</label>
<textarea id="token" name="token" required autocomplete="off" spellcheck="false"></textarea>
<button type="submit">Sign in</button>
</form>
</main></body></html>
"""


def form(error: str | None = None, status: int = 200) -> HTMLResponse:
    shown = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(FORM.format(error=shown), status_code=status)


def set_cookie(response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE, session.id, httponly=True, samesite="strict", path="/", secure=False
    )


async def sign_in(store: SessionStore, credential: Credential) -> Session:
    """A session for `credential`, once the apiserver has said who it is."""
    config = store.config_for(credential)
    client = store.client_for(config)
    try:
        review: dict[str, Any] = await client.create(
            resources.SELFSUBJECTREVIEWS, {"metadata": {}, "spec": {}}
        )
    except BaseException:
        await client.aclose()
        raise
    info = (review.get("status") or {}).get("userInfo") or {}
    return store.add(str(info.get("username") or "?"), list(info.get("groups") or []), client)


async def by_code(request: Request, store: SessionStore, grant_dir: Any) -> Response:
    code = request.query_params.get("code", "")
    credential = grants.redeem(grant_dir, code) if grant_dir is not None else None
    if credential is None:
        return form("This sign-in link is unknown, used or expired: run `minik8s dashboard`.", 401)
    return await _finish(store, credential)


async def by_token(request: Request, store: SessionStore) -> Response:
    raw = await request.body()
    if len(raw) > MAX_FORM:
        return form("The form is too large.", 413)
    fields = parse_qs(raw.decode(errors="replace"), max_num_fields=4)
    token = (fields.get("token") or [""])[0].strip()
    if not token or len(token) > 16384 or any(c.isspace() for c in token):
        return form("Paste a bearer token (one line, no spaces).", 400)
    return await _finish(store, Credential(token=token))


async def _finish(store: SessionStore, credential: Credential) -> Response:
    try:
        session = await sign_in(store, credential)
    except errors.Unauthorized:
        return form("The apiserver did not accept this credential (401 Unauthorized).", 401)
    except errors.ApiError as e:
        return form(f"Signing in failed: {e.message}", 502)
    response = RedirectResponse("/", status_code=303)
    set_cookie(response, session)
    return response
