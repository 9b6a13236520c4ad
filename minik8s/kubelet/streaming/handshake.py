"""Reading an upgrade request and answering it: the SPDY handshake, plain HTTP refusals."""

from __future__ import annotations

from typing import Any

from minik8s.api.httpstream import protocols
from minik8s.componentbase.upgrade import RawConnection, respond_json, response_head


class HandshakeError(Exception):
    """The upgrade is refused with `status` and `message` (before any 101)."""

    def __init__(self, status: int, message: str, reason: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def header_values(scope: Any, name: str) -> list[str]:
    key = name.lower().encode()
    return [v.decode("latin-1") for k, v in scope["headers"] if k == key]


def is_websocket(scope: Any) -> bool:
    return any(v.strip().lower() == "websocket" for v in header_values(scope, "upgrade"))


def is_spdy(scope: Any) -> bool:
    return any(v.strip().lower() == "spdy/3.1" for v in header_values(scope, "upgrade"))


def websocket_protocols(scope: Any) -> list[str]:
    return protocols.split_header(header_values(scope, "sec-websocket-protocol"))


def websocket_protocol(offered: list[str], supported: tuple[str, ...],
                       also: tuple[str, ...] = ()) -> str | None:  # fmt: skip
    """The subprotocol chosen among `offered` (None when none was offered); HandshakeError 400
    naming what is supported (`supported` and `also`) when none of them is."""
    chosen = protocols.negotiate(offered, supported)
    if offered and chosen is None:
        raise HandshakeError(
            400,
            f"requested protocol(s) are not supported: {offered}; supports {[*supported, *also]}",
        )
    return chosen


def refuse(connection: RawConnection, error: HandshakeError) -> None:
    """A plain response with a Kubernetes Status body, then close."""
    status = protocols.failure_status(error.message, error.reason, error.status)
    respond_json(connection, error.status, {"kind": "Status", "apiVersion": "v1", **status})


def spdy_accept(scope: Any, connection: RawConnection, supported: tuple[str, ...]) -> str:
    """Negotiate the sub-protocol (client preference) and write the 101; the chosen protocol.
    Raises HandshakeError (nothing written yet) as apimachinery's Handshake refuses."""
    offered = protocols.split_header(header_values(scope, protocols.HEADER_PROTOCOL_VERSION))
    if not offered:
        raise HandshakeError(400, "unable to upgrade: X-Stream-Protocol-Version is required")
    chosen = protocols.negotiate(offered, supported)
    if chosen is None:
        raise HandshakeError(
            403,
            f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
            f"server accepts {list(supported)}",
            "Forbidden",
        )
    connection.write(
        response_head(
            101,
            [
                ("Connection", "Upgrade"),
                ("Upgrade", protocols.SPDY_31),
                ("X-Stream-Protocol-Version", chosen),
            ],
        )
    )
    return chosen
