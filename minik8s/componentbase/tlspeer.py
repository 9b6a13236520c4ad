"""The TLS client certificate of a connection, in the ASGI scope (uvicorn leaves it out).

uvicorn's protocols know the transport, whose `ssl_object` holds the peer certificate once
the handshake is done (asyncio and uvloop call `connection_made` after the handshake), but
they build each request's scope without it. These subclasses read the certificate once per
connection and put it into every scope of that connection under the ASGI TLS extension:

    scope["extensions"]["tls"] = {"client_cert_name": "CN=…,O=…", "minik8s.subject": ...}

`client_cert_name` is the ASGI spec's RFC 4514 name; `minik8s.subject` is the same subject
already split as `(common name, (organizations…))`, so an authenticator reads the user and
groups without parsing anything. The certificate is verified by OpenSSL during the handshake
against the CA given as `ssl_ca_certs` (with `ssl_cert_reqs=CERT_OPTIONAL`): a certificate
that does not verify ends the handshake; a client without one connects and gets no `tls`
extension. Cost: one `getpeercert()` per connection (~10 µs), one dict insert per request.

    uvicorn.Config(app, http=PeerCertHttpProtocol, ws=PeerCertWebSocketProtocol, ...)
"""

from __future__ import annotations

import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

TLS_EXTENSION = "tls"
SUBJECT_KEY = "minik8s.subject"

Subject = tuple[str, tuple[str, ...]]
"""(common name, organizations) of a verified client certificate."""


def subject_of(cert: dict[str, Any]) -> Subject | None:
    """CN and O values of a certificate as `SSLSocket.getpeercert()` returns it."""
    common_name = ""
    organizations: list[str] = []
    for rdn in cert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName" and not common_name:
                common_name = value
            elif key == "organizationName":
                organizations.append(value)
    if not common_name:
        return None
    return common_name, tuple(organizations)


def _rfc4514(subject: Subject) -> str:
    def escape(value: str) -> str:
        return "".join(f"\\{c}" if c in ',+"\\<>;=' else c for c in value)

    parts = [f"CN={escape(subject[0])}"] + [f"O={escape(o)}" for o in subject[1]]
    return ",".join(parts)


def tls_info(transport: Any) -> dict[str, Any] | None:
    """The scope's `tls` extension for a connection with a verified client certificate."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    subject = subject_of(cert)
    if subject is None:
        return None
    return {"client_cert_name": _rfc4514(subject), SUBJECT_KEY: subject}


def peer_subject(scope: Any) -> Subject | None:
    """The verified client certificate's subject of the request's connection, if any."""
    extensions = scope.get("extensions")
    if not extensions:
        return None
    tls = extensions.get(TLS_EXTENSION)
    return tls.get(SUBJECT_KEY) if tls else None


class PeerCertHttpProtocol(HttpToolsProtocol):
    """httptools, with the connection's client certificate in each request's scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_info(transport) if self.scheme == "https" else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            scope: Any = self.scope
            scope["extensions"] = {TLS_EXTENSION: self._tls}


class PeerCertWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets (sans-I/O), with the connection's client certificate in the scope (exec)."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_info(transport) if self.scheme == "wss" else None

    async def run_asgi(self) -> None:
        if self._tls is not None:
            scope: Any = self.scope
            scope.setdefault("extensions", {})[TLS_EXTENSION] = self._tls
        await super().run_asgi()
