"""Errors of the client's own making, and the one place that maps httpx errors to the API tree.

Every error the client raises is an `errors.ApiError`: responses become the class their
`Status` names, and transport failures become `ServerUnreachable` or `RequestTimedOut`.
"""

from __future__ import annotations

import httpx

from minik8s.api import errors


class ServerUnreachable(errors.ServiceUnavailable):
    """The apiserver could not be reached, or the connection to it broke."""


class RequestTimedOut(errors.Timeout):
    """The apiserver did not answer in time."""


NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before any byte of the request reached the server."""


def request_was_sent(e: httpx.TransportError) -> bool:
    """Whether the server may have seen (and acted on) the request that failed with `e`."""
    return not isinstance(e, NOT_SENT)


def from_transport_error(e: httpx.TransportError, server: str, what: str) -> errors.ApiError:
    """The API error standing for an httpx transport failure; `what` is e.g. `GET /api/v1/pods`."""
    detail = str(e) or type(e).__name__
    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerUnreachable(f"cannot reach the apiserver at {server}: {detail}")
    if isinstance(e, httpx.TimeoutException):
        return RequestTimedOut(f"{what}: the apiserver at {server} did not answer in time")
    return ServerUnreachable(f"{what}: connection to the apiserver at {server} failed: {detail}")
