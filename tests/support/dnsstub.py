"""A stub upstream resolver on loopback for the DNS's forwarding tests (never a real one).

It answers `A` for names under `example.test` with 192.0.2.1 (TTL 300), NXDOMAIN for anything
else, over UDP and TCP, and counts the queries it saw by name.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

DOMAIN = "example.test."
ADDRESS = "192.0.2.1"


def _answer(data: bytes, seen: Counter[str]) -> bytes:
    query = dns.message.from_wire(data)
    question = query.question[0]
    name = question.name.to_text().lower()
    seen[name] += 1
    response = dns.message.make_response(query)
    response.flags |= 0x0080  # RA
    if name.endswith(DOMAIN) and question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", ADDRESS))
    elif not name.endswith(DOMAIN):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


class StubUpstream:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.seen: Counter[str] = Counter()
        seen = self.seen

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(_answer(data, seen), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                length = int.from_bytes(self.request.recv(2))
                answer = _answer(self.request.recv(length), seen)
                self.request.sendall(len(answer).to_bytes(2) + answer)

        for attempt in range(20):  # one port number for both: its TCP twin may be taken
            self.udp = socketserver.ThreadingUDPServer((host, 0), Udp)
            self.port = self.udp.server_address[1]
            self.tcp = socketserver.ThreadingTCPServer(
                (host, self.port), Tcp, bind_and_activate=False
            )
            self.tcp.allow_reuse_address = True
            try:
                self.tcp.server_bind()
                break
            except OSError:
                self.tcp.server_close()
                self.udp.server_close()
                if attempt == 19:
                    raise
        self.tcp.server_activate()
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True)
                         for s in (self.udp, self.tcp)]  # fmt: skip

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> StubUpstream:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")
