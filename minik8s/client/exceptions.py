"""Errors of the client's own making, and the one place that maps transport failures to the
API tree.

Every error the client raises is an `errors.ApiError`: responses become the class their
`Status` names, and transport failures become `ServerUnreachable` or `RequestTimedOut`.
"""

from __future__ import annotations

from minik8s.api import errors
from minik8s.client.transport import TransportFailure


class ServerUnreachable(errors.ServiceUnavailable):
    """The apiserver could not be reached, or the connection to it broke."""


class TLSFailure(ServerUnreachable):
    """The TLS handshake failed (e.g. an untrusted certificate): retrying will not help."""


class StreamBroken(ServerUnreachable):
    """A streamed response (a watch) was open and its connection broke mid-stream: the
    apiserver went away or restarted. client-go's watch decoder ends the watch on such an
    unexpected EOF (logged at V(1)) and the reflector watches again from its last version."""


class RequestTimedOut(errors.Timeout):
    """The apiserver did not answer in time."""


def from_transport_error(e: TransportFailure, server: str, what: str) -> errors.ApiError:
    """The API error standing for a transport failure; `what` is e.g. `GET /api/v1/pods`."""
    detail = str(e) or type(e).__name__
    if e.tls_error is not None:
        tls = e.tls_error
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or detail
        return TLSFailure(
            f"TLS handshake with the apiserver at {server} failed: {reason} "
            "(check the kubeconfig's certificate-authority)"
        )
    if not e.sent:
        return ServerUnreachable(f"cannot reach the apiserver at {server}: {detail}")
    if e.timed_out:
        return RequestTimedOut(f"{what}: the apiserver at {server} did not answer in time")
    return ServerUnreachable(f"{what}: connection to the apiserver at {server} failed: {detail}")


def stream_broken(e: TransportFailure, server: str, what: str) -> errors.ApiError:
    """The error for a stream whose connection broke after its response began."""
    if e.timed_out:
        return RequestTimedOut(f"{what}: the apiserver at {server} stopped sending in time")
    return StreamBroken(
        f"{what}: the connection to the apiserver at {server} broke mid-stream: {e}"
    )
