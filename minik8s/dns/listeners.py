"""The DNS listeners: UDP and TCP on each bind address, the answer path, forwarding.

A UDP query that the fast parser accepts and the zone has a compiled answer for is answered
inside `datagram_received`: no task, no dnspython. Everything else goes through `resolve`
(NODATA, NXDOMAIN, pod names, dnspython's careful parse of odd packets), and names outside the
zone through the forwarder in a named task. TCP (RFC 7766) takes several queries per
connection, each with its 2-byte length; idle connections close after `tcp_idle` seconds and at
most `tcp_max_connections` are served at once.

The sockets are bound with IP_FREEBIND: the address the pods reach (the host's address on the
pod bridge) may appear only once the kubelet has created that bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from time import perf_counter
from typing import Any, NamedTuple

import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from minik8s.client import tasks
from minik8s.dns import forward, wire
from minik8s.dns.forward import Forwarder
from minik8s.dns.metrics import DnsMetrics
from minik8s.dns.records import PTR
from minik8s.dns.resolver import Forward, Parsed, Resolver, careful
from minik8s.dns.wire import parse_query

logger = logging.getLogger(__name__)

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
UDP_BUFFER = 4 << 20
"""Receive buffer of a UDP socket: a burst of queries waits there, not on the floor."""


class Pending(NamedTuple):
    """An answer that needs an upstream first."""

    forward: Forward
    message: dns.message.Message | None
    data: bytes


Outcome = bytes | Pending | None


class DnsServer:
    def __init__(
        self,
        resolver: Resolver,
        forwarder: Forwarder | None,
        metrics: DnsMetrics,
        *,
        tcp_idle: float = 10.0,
        tcp_max_connections: int = 256,
    ) -> None:
        self.resolver = resolver
        self.forwarder = forwarder
        self.metrics = metrics
        self.tcp_idle = tcp_idle
        self.tcp_max_connections = tcp_max_connections
        self.addresses: list[tuple[str, int]] = []
        """(host, port) of each listener, once started (port 0 resolved)."""
        self._transports: list[asyncio.DatagramTransport] = []
        self._tcp_servers: list[asyncio.Server] = []
        self._tcp_clients: set[asyncio.Task[Any]] = set()
        self._forwards: set[asyncio.Task[None]] = set()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, addresses: list[tuple[str, int]]) -> None:
        loop = asyncio.get_running_loop()
        for host, port in addresses:
            udp, tcp = bind_pair(host, port)
            transport, _ = await loop.create_datagram_endpoint(lambda: UdpProtocol(self), sock=udp)
            self._transports.append(transport)
            server = await asyncio.start_server(self._tcp_client, sock=tcp)
            self._tcp_servers.append(server)
            bound = udp.getsockname()
            self.addresses.append((bound[0], bound[1]))
            logger.info("dns: serving on %s:%d (udp and tcp)", bound[0], bound[1])

    async def stop(self) -> None:
        for transport in self._transports:
            transport.close()
        for server in self._tcp_servers:
            server.close()
        await tasks.cancel_and_wait([*self._tcp_clients, *self._forwards], timeout=5)
        for server in self._tcp_servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._transports, self._tcp_servers = [], []

    # --- answers ---------------------------------------------------------------------------

    def resolve(self, data: bytes, udp: bool) -> tuple[Outcome, int]:
        """(the answer, the query's type) without I/O; a `Pending` needs an upstream."""
        query = parse_query(data, udp)
        message = None
        if query is None:
            parsed = careful(data, udp)
            if not isinstance(parsed, Parsed):
                return parsed, 0
            query, message = parsed
        result = self.resolver.answer(query)
        if isinstance(result, bytes):
            return result, query.qtype
        return Pending(result, message, data), query.qtype

    async def finish(self, pending: Pending) -> bytes:
        """Ask upstream for what `pending` needs; the answer to send."""
        message = pending.message or dns.message.from_wire(pending.data)
        limit = pending.forward.query.limit
        question = message.question[0]
        dnssec = bool(message.ednsflags & dns.flags.DO) if message.edns >= 0 else False
        if self.forwarder is None:
            return forward.reply(message, None, limit)
        if pending.forward.cname is None:
            upstream = await self.forwarder.lookup(
                question.name, question.rdtype, question.rdclass, dnssec
            )
            return forward.reply(message, upstream, limit)
        target = dns.name.from_text(wire.wire_to_text(pending.forward.cname) + ".")
        cname = dns.rrset.from_text(
            question.name, self.resolver.zone.ttl, dns.rdataclass.IN, dns.rdatatype.CNAME,
            target.to_text(),
        )  # fmt: skip
        upstream = await self.forwarder.lookup(target, question.rdtype, question.rdclass, dnssec)
        return forward.reply(message, upstream, limit, prefix=[cname])

    async def answer(self, data: bytes, udp: bool) -> bytes | None:
        """The whole answer to one query (TCP, tests), upstreams included."""
        outcome, _ = self.resolve(data, udp)
        if isinstance(outcome, Pending):
            return await self.finish(outcome)
        return outcome

    def forward_later(
        self, pending: Pending, send: Any, proto: str, qtype: int, start: float
    ) -> None:
        async def run() -> None:
            answer = await self.finish(pending)
            send(answer)
            self.metrics.observe(proto, qtype, answer[3] & 0x0F, perf_counter() - start)

        task = tasks.spawn(run(), "dns forward")
        self._forwards.add(task)
        task.add_done_callback(self._forwards.discard)

    # --- TCP -------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._tcp_clients) >= self.tcp_max_connections or task is None:
            writer.close()
            return
        self._tcp_clients.add(task)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle)
                data = await asyncio.wait_for(
                    reader.readexactly(int.from_bytes(head)), self.tcp_idle
                )
                start = perf_counter()
                outcome, qtype = self.resolve(data, udp=False)
                if isinstance(outcome, Pending):
                    outcome = await self.finish(outcome)
                if outcome is None:
                    self.metrics.dropped += 1
                    break  # not a query: close the connection
                writer.write(len(outcome).to_bytes(2) + outcome)
                await writer.drain()
                self.metrics.observe("tcp", qtype, outcome[3] & 0x0F, perf_counter() - start)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._tcp_clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.answers = server.resolver.zone.answers  # updated in place, never replaced
        self.observe = server.metrics.observe
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        start = perf_counter()
        transport = self.transport
        assert transport is not None
        query = parse_query(data, True)
        if query is not None and query.qtype != PTR:  # PTR: compiled and on-demand names
            body = self.answers.get(query.name + query.question[-4:-2])
            if body is not None:
                transport.sendto(wire.assemble(query, 0, body), addr)
                self.observe("udp", query.qtype, 0, perf_counter() - start)
                return
        try:
            outcome, qtype = self.server.resolve(data, udp=True)
        except Exception:
            logger.exception("dns: answering a query failed")
            outcome, qtype = wire.error(data, wire.SERVFAIL), 0
        if outcome is None:
            self.server.metrics.dropped += 1
        elif isinstance(outcome, Pending):
            self.server.forward_later(
                outcome, lambda answer: transport.sendto(answer, addr), "udp", qtype, start
            )
        else:
            transport.sendto(outcome, addr)
            self.observe("udp", qtype, outcome[3] & 0x0F, perf_counter() - start)

    def error_received(self, exc: Exception) -> None:
        logger.debug("dns: udp error %r", exc)


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same address and port (port 0: a free one both
    have), with IP_FREEBIND so the address need not exist yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last_error: OSError | None = None
    for _ in range(20 if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            for s in (udp, tcp):
                s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                s.setblocking(False)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_BUFFER)
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
            return udp, tcp
        except OSError as e:
            udp.close()
            tcp.close()
            last_error = e
    raise OSError(f"cannot listen on {host}:{port}: {last_error}") from last_error
