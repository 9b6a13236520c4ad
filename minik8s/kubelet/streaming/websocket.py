"""A server WebSocket over a hijacked connection (the `websockets` library, sans-I/O).

Messages may arrive in fragments; each frame's payload is handed on with `start=True` on the
first frame of a message (where a channel protocol's channel byte is). Pings are answered by
the library; a close frame from the client ends the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.exceptions import InvalidState, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from minik8s.componentbase.upgrade import RawConnection
from minik8s.kubelet.streaming.handshake import HandshakeError

logger = logging.getLogger(__name__)

_protocol_logger = logging.getLogger(__name__ + ".protocol")
_protocol_logger.setLevel(logging.WARNING)  # the library says "connection open" at INFO
MAX_MESSAGE = 16 << 20
"""A message above 16 MiB closes the connection (clients send at most ~1 MiB at once)."""


def binary_frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final binary frame of `length` bytes."""
    if length < 126:
        return bytes((0x82, length))
    if length < 1 << 16:
        return bytes((0x82, 126)) + length.to_bytes(2, "big")
    return bytes((0x82, 127)) + length.to_bytes(8, "big")


class WebSocketSession:
    def __init__(self, connection: RawConnection, protocol: ServerProtocol) -> None:
        self.connection = connection
        self.protocol = protocol
        self.subprotocol: str | None = protocol.subprotocol
        self.on_frame: Callable[[bytes, bool], None] | None = None
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self._in_message = False

    @classmethod
    def accept(cls, scope: Any, connection: RawConnection, subprotocol: str | None
               ) -> WebSocketSession:  # fmt: skip
        """The handshake's 101 (with `subprotocol`, if any); HandshakeError if it is invalid."""
        chosen = Subprotocol(subprotocol) if subprotocol else None
        protocol = ServerProtocol(max_size=MAX_MESSAGE, logger=_protocol_logger)
        # The request is fed to the library's parser (whose state then moves on to frames).
        # Its own subprotocol parsing refuses Kubernetes' `SPDY/3.1+portforward.k8s.io` ("/"
        # is not a token character): the caller negotiates, the header is left out here and
        # put on the response.
        query = scope.get("query_string", b"")
        path = scope.get("raw_path") or scope["path"].encode()
        lines = [b"GET " + path + (b"?" + query if query else b"") + b" HTTP/1.1"]
        lines += [
            k + b": " + v for k, v in scope["headers"] if k.lower() != b"sec-websocket-protocol"
        ]
        protocol.receive_data(b"\r\n".join(lines) + b"\r\n\r\n")
        events = protocol.events_received()
        request = events[0] if events else None
        if not isinstance(request, Request):
            raise HandshakeError(400, "invalid WebSocket handshake")
        response = protocol.accept(request)
        if response.status_code != 101:
            raise HandshakeError(
                response.status_code, (response.body or b"").decode() or "bad request"
            )
        if chosen:
            response.headers["Sec-WebSocket-Protocol"] = chosen
        protocol.send_response(response)
        session = cls(connection, protocol)
        session.subprotocol = chosen
        session._flush()
        return session

    def start(self, on_frame: Callable[[bytes, bool], None], on_close: Callable[[], None]) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.connection.consume(self._received, self._lost)

    def _received(self, chunk: bytes) -> None:
        try:
            self.protocol.receive_data(chunk)
        except (InvalidState, ProtocolError) as e:
            logger.debug("websocket: %s", e)
        for frame in self.protocol.events_received():
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (Opcode.BINARY, Opcode.TEXT):
                self._in_message = not frame.fin
                if self.on_frame is not None:
                    self.on_frame(bytes(frame.data), True)
            elif frame.opcode is Opcode.CONT and self.on_frame is not None:
                self._in_message = not frame.fin
                self.on_frame(bytes(frame.data), False)
        self._flush()
        if self.protocol.close_expected() or self.protocol.state is State.CLOSED:
            self._lost()

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.protocol.send_binary(data)
        except InvalidState:
            return
        self._flush()

    def send_parts(self, parts: list[bytes]) -> None:
        """One binary message made of `parts`, framed here (a server's frames are not masked)
        and written without joining the parts: the hot path of every stream's downloads."""
        if self.closed or self.protocol.state is not State.OPEN:
            return
        self.connection.writelines([binary_frame_header(sum(map(len, parts))), *parts])

    def close(self, code: int = 1000) -> None:
        """Send a close frame, then end the connection."""
        if not self.closed:
            try:
                self.protocol.send_close(code)
            except InvalidState:
                pass
            self._flush()
            self.connection.close()
        self._lost()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.connection.write(data)
            else:
                self.connection.close()

    def _lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.connection.close()
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()
