"""Errors of the client's own making, and the one place that maps httpx errors to the API tree.

Every error the client raises is an `errors.ApiError`: responses become the class their
`Status` names, and transport failures become `ServerUnreachable` or `RequestTimedOut`.
"""

from __future__ import annotations

import ssl

import httpx

from minik8s.api import errors


class ServerUnreachable(errors.ServiceUnavailable):
    """The apiserver could not be reached, or the connection to it broke."""


class TLSFailure(ServerUnreachable):
    """The TLS handshake failed (e.g. an untrusted certificate): retrying will not help."""


class RequestTimedOut(errors.Timeout):
    """The apiserver did not answer in time."""


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before any byte of the request reached the server."""


def request_was_sent(e: httpx.TransportError) -> bool:
    """Whether the server may have seen (and acted on) the request that failed with `e`."""
    return not isinstance(e, NOT_SENT)


def tls_cause(e: BaseException) -> ssl.SSLError | None:
    """The ssl error behind a transport error, if the TLS handshake is what failed."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def from_transport_error(e: httpx.TransportError, server: str, what: str) -> errors.ApiError:
    """The API error standing for an httpx transport failure; `what` is e.g. `GET /api/v1/pods`."""
    detail = str(e) or type(e).__name__
    tls = tls_cause(e)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or detail
        return TLSFailure(
            f"TLS handshake with the apiserver at {server} failed: {reason} "
            "(check the kubeconfig's certificate-authority)"
        )
    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerUnreachable(f"cannot reach the apiserver at {server}: {detail}")
    if isinstance(e, httpx.TimeoutException):
        return RequestTimedOut(f"{what}: the apiserver at {server} did not answer in time")
    return ServerUnreachable(f"{what}: connection to the apiserver at {server} failed: {detail}")
