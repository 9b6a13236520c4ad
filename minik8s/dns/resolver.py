"""What the server answers for a query, from the zone alone (no I/O).

`answer(query)` gives the wire answer, or a `Forward`: the name is outside the zones served
here (or an ExternalName points outside), so the server asks an upstream. `careful(data)`
parses with dnspython whatever the fast parser turned down, and maps bad input to the RCODE
the RFCs give: FORMERR for a malformed query, NOTIMP for other opcodes and zone transfers,
REFUSED for other classes, BADVERS for EDNS versions above 0; a packet that is not a query
(too short, or a response) gets no answer at all.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype

from minik8s.dns import records, wire
from minik8s.dns.endpointnames import EndpointNames
from minik8s.dns.records import ANY, CNAME, NS, PTR, SOA, SRV, TXT, A
from minik8s.dns.wire import Query
from minik8s.dns.zone import Zone

ANY_ORDER = (SOA, NS, A, CNAME, PTR, TXT, SRV)
"""Types an ANY query collects, in order."""
NOT_SERVED = {
    dns.rdatatype.AXFR, dns.rdatatype.IXFR, dns.rdatatype.MAILA, dns.rdatatype.MAILB,
}  # fmt: skip
META = {dns.rdatatype.OPT, dns.rdatatype.TSIG, dns.rdatatype.TKEY}


class Forward(NamedTuple):
    """Ask an upstream: for the query itself (`cname` None), or for the target of an
    ExternalName whose CNAME record starts the answer."""

    query: Query
    cname: bytes | None = None
    """The CNAME's target (wire) when chasing it; None to forward the query as it is."""


class Resolver:
    def __init__(self, zone: Zone, endpoint_names: EndpointNames | None = None) -> None:
        self.zone = zone
        self.endpoint_names = endpoint_names

    def answer(self, query: Query) -> bytes | Forward:
        body = self.zone.answers.get(query.key)
        if query.qtype == PTR and self.endpoint_names is not None:
            lazy = self._endpoint_targets(query)
            if lazy:  # an address of both headless and ClusterIP Services: all its names
                extra = wire.template(PTR, self.zone.ttl, [wire.name_to_wire(t) for t in lazy])
                body = extra if body is None else _merge(body, extra)
        if body is not None:
            return wire.assemble(query, wire.NOERROR, body)
        return self.miss(query)

    def miss(self, query: Query) -> bytes | Forward:
        """A query without a compiled answer: CNAME, NODATA, NXDOMAIN, a pod name, or another
        zone's name."""
        zone, name = self.zone, query.name
        target = zone.cnames.get(name)
        if target is not None:
            return self._cname(query, target)
        authority = zone.authority(name)
        if authority is None:
            return self._endpoint_ptr(query) or Forward(query)
        apex, soa = authority
        negative = wire.negative_body(query, apex, soa, zone.ttl)
        if zone.exists(name):
            if query.qtype == ANY:
                return self._any(query)
            return wire.assemble(query, wire.NOERROR, negative)  # NODATA
        text = wire.wire_to_text(name)
        address = records.parse_pod_name(text, zone.domain)
        if address is None and self.endpoint_names is not None:
            address = self.endpoint_names.address_of(text)
        if address is not None:
            if query.qtype in (A, ANY):
                body = wire.template(A, zone.ttl, [socket.inet_aton(address)])
                return wire.assemble(query, wire.NOERROR, body)
            return wire.assemble(query, wire.NOERROR, negative)
        if _is_pod_namespace(text, zone.domain):
            return wire.assemble(query, wire.NOERROR, negative)
        return wire.assemble(query, wire.NXDOMAIN, negative)

    def _endpoint_targets(self, query: Query) -> list[str]:
        """The names of the endpoints of ClusterIP Services at the address a reverse name
        spells (`endpointnames`)."""
        if self.endpoint_names is None or not query.name.endswith(self.zone.reverse_apex):
            return []
        labels = wire.wire_to_text(query.name).split(".")
        if len(labels) != 6:
            return []
        return self.endpoint_names.names_of(".".join(reversed(labels[:4])))

    def _endpoint_ptr(self, query: Query) -> bytes | None:
        """NODATA for another type at the reverse name of such an endpoint address."""
        if not self._endpoint_targets(query):
            return None
        zone = self.zone
        negative = wire.negative_body(query, zone.reverse_apex, zone.soa, zone.ttl)
        return wire.assemble(query, wire.NOERROR, negative)

    def _any(self, query: Query) -> bytes:
        """Every record at the name (this server is authoritative, RFC 8482 allows less)."""
        bodies = [self.zone.answers.get(query.name + t.to_bytes(2)) for t in ANY_ORDER]
        found = [b for b in bodies if b]
        count = sum(int.from_bytes(b[:2]) for b in found)
        return wire.assemble(
            query, wire.NOERROR, struct.pack("!HHH", count, 0, 0) + b"".join(b[6:] for b in found)
        )

    def _cname(self, query: Query, target: bytes) -> bytes | Forward:
        """The CNAME of an ExternalName Service; the target's records follow when the target
        is in the cluster zone, else the server asks upstream for them."""
        ttl = self.zone.ttl
        cname = wire.template(CNAME, ttl, [target])
        if query.qtype in (CNAME, ANY):
            return wire.assemble(query, wire.NOERROR, cname)
        if not self.zone.in_zone(target):
            return Forward(query, target)
        chased = self.zone.answers.get(target + query.question[-4:-2])
        if chased is None:
            return wire.assemble(query, wire.NOERROR, cname)
        # The target's records, owned by the CNAME's data: right after the CNAME record's
        # fixed fields (owner pointer 2 + type, class, TTL, length 10).
        owner = struct.pack("!H", 0xC000 | (wire.HEADER + len(query.question) + 12))
        count = int.from_bytes(cname[:2]) + int.from_bytes(chased[:2])
        body = struct.pack("!HHH", count, 0, 0) + cname[6:] + _reown(chased[6:], owner)
        return wire.assemble(query, wire.NOERROR, body)


def _merge(first: bytes, second: bytes) -> bytes:
    """Two answer templates of one name and type as one."""
    count = int.from_bytes(first[:2]) + int.from_bytes(second[:2])
    return struct.pack("!HHH", count, 0, 0) + first[6:] + second[6:]


def _reown(records_wire: bytes, owner: bytes) -> bytes:
    """Records of a template (each owned by a 2-byte pointer) with `owner` instead."""
    out = bytearray()
    i = 0
    while i < len(records_wire):
        length = int.from_bytes(records_wire[i + 10 : i + 12])
        out += owner + records_wire[i + 2 : i + 12 + length]
        i += 12 + length
    return bytes(out)


def _is_pod_namespace(name: str, domain: str) -> bool:
    """`<ns>.pod.<zone>`: an empty non-terminal for every namespace (pods insecure)."""
    suffix = f".pod.{domain}"
    return name.endswith(suffix) and "." not in name[: -len(suffix)]


# --- the careful path ----------------------------------------------------------------------


class Parsed(NamedTuple):
    query: Query
    message: dns.message.Message


def careful(data: bytes, udp: bool) -> bytes | Parsed | None:
    """Parse with dnspython: the query (with its message, for forwarding), an error answer
    (bytes), or None when the packet deserves no answer."""
    if len(data) < wire.HEADER or data[2] & 0x80:
        return None  # not even a header, or a response: answering could make a loop
    try:
        message = dns.message.from_wire(data)
    except dns.message.ShortHeader:
        return None
    except dns.message.BadEDNS:
        return wire.error(data, wire.FORMERR)
    except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
        return wire.error(data, wire.FORMERR)
    except Exception:
        return wire.error(data, wire.FORMERR)
    if message.opcode() != dns.opcode.QUERY:
        return wire.error(data, wire.NOTIMP)
    if len(message.question) != 1 or message.answer or message.authority:
        return wire.error(data, wire.FORMERR)
    rd = 1 if message.flags & dns.flags.RD else 0
    rrset = message.question[0]
    name = rrset.name.to_wire() or b""
    question = name + struct.pack("!HH", rrset.rdtype, rrset.rdclass)
    edns: bytes | None = None
    limit = wire.MAX_UDP_PLAIN if udp else 65535
    if message.edns >= 0:
        do_bit = 0x80 if message.ednsflags & dns.flags.DO else 0
        if message.edns > 0:
            return _badvers(data[:2], rd, question, do_bit)
        edns = wire.opt_record(do_bit)
        if udp:
            limit = max(wire.MAX_UDP_PLAIN, min(message.payload, wire.EDNS_PAYLOAD))
    query = Query(data[:2], rd, question, name.lower(), int(rrset.rdtype), edns, limit)
    if rrset.rdtype in META:
        return wire.assemble(query, wire.FORMERR, b"\x00" * 6)
    if rrset.rdclass != dns.rdataclass.IN:
        return wire.assemble(query, wire.REFUSED, b"\x00" * 6)
    if rrset.rdtype in NOT_SERVED:
        return wire.assemble(query, wire.NOTIMP, b"\x00" * 6)
    return Parsed(query, message)


def _badvers(head: bytes, rd: int, question: bytes, do_bit: int) -> bytes:
    """RCODE 16 (BADVERS) lives in the OPT record: 1 in its extended bits, 0 in the header."""
    opt = wire.opt_record(do_bit, ext_rcode=wire.BADVERS >> 4)
    return head + wire.flags(rd, 0) + b"\x00\x01\x00\x00\x00\x00\x00\x01" + question + opt
