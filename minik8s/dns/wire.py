"""The DNS wire format of what the zone serves: names, records, answer templates, queries.

The answer path avoids building message objects: an answer is the query's ID and flags, the
question exactly as it came (its case included), then the answer records the zone compiled when
the informers last changed (`template`). Their owner names are a compression pointer to the
question (offset 12), so one template serves every spelling of a name. Anything the fast parser
(`parse_query`) does not recognise as one plain question goes to dnspython (`server`).
"""

from __future__ import annotations

import socket
import struct
from typing import Any, NamedTuple

from minik8s.dns.records import AAAA, CNAME, NS, PTR, SOA, SRV, TXT, A

HEADER = 12
QUESTION_PTR = b"\xc0\x0c"
"""A compression pointer to the question's name: the owner of every answer record."""
CLASS_IN = b"\x00\x01"
MAX_UDP_PLAIN = 512
"""Largest UDP answer to a query without EDNS (RFC 1035)."""
EDNS_PAYLOAD = 1232
"""The UDP payload size this server advertises and honours at most (DNS flag day 2020)."""
MAX_NAME = 255
"""Longest name in wire format."""

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16
"""An extended RCODE: 1 in the OPT record's upper bits, 0 in the header."""

_RR = struct.Struct("!HHIH")
_COUNTS = struct.Struct("!HHH")
_SRV = struct.Struct("!HHH")
_SOA_TIMERS = struct.Struct("!IIIII")


class NameError_(ValueError):
    """A name that cannot be written in wire format (a label over 63 bytes, …)."""


def name_to_wire(name: str) -> bytes:
    """`web.default.svc.cluster.local` → length-prefixed labels and the root; lower-case."""
    out = bytearray()
    for label in name.lower().rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii", "strict")
        if not 0 < len(raw) <= 63:
            raise NameError_(f"bad label {label!r} in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > MAX_NAME:
        raise NameError_(f"name longer than {MAX_NAME} bytes: {name!r}")
    return bytes(out)


def wire_to_text(wire: bytes) -> str:
    """The text of an uncompressed wire name (no trailing dot; the root is "")."""
    labels = []
    i = 0
    while wire[i]:
        length = wire[i]
        labels.append(wire[i + 1 : i + 1 + length].decode("ascii", "replace"))
        i += length + 1
    return ".".join(labels)


def rdata_wire(rtype: int, rdata: tuple[Any, ...]) -> bytes:
    if rtype == A:
        return socket.inet_aton(rdata[0])
    if rtype in (CNAME, PTR, NS):
        return name_to_wire(rdata[0])
    if rtype == SRV:  # RFC 2782: the target is never compressed
        priority, weight, port, target = rdata
        return _SRV.pack(priority, weight, port) + name_to_wire(target)
    if rtype == TXT:
        text = str(rdata[0]).encode()
        return b"".join(bytes([len(c)]) + c for c in _chunks(text, 255))
    if rtype == AAAA:
        return socket.inet_pton(socket.AF_INET6, rdata[0])
    raise ValueError(f"no wire encoding for record type {rtype}")


def soa_rdata(zone: str, serial: int, ttl: int) -> bytes:
    """The SOA of `zone`, with CoreDNS's name server, mailbox and timers."""
    return (
        name_to_wire(f"ns.dns.{zone}")
        + name_to_wire(f"hostmaster.{zone}")
        + _SOA_TIMERS.pack(serial & 0xFFFFFFFF, 7200, 1800, 86400, ttl)
    )


def record(owner: bytes, rtype: int, ttl: int, rdata: bytes) -> bytes:
    return owner + _RR.pack(rtype, 1, ttl, len(rdata)) + rdata


def template(rtype: int, ttl: int, rdatas: list[bytes], authority: bytes = b"") -> bytes:
    """An answer after the question: 6 bytes of counts (answers, authority, additional)
    then the records, each owned by the question's name."""
    head = QUESTION_PTR + _RR.pack(rtype, 1, ttl, 0)[:-2]
    body = b"".join(head + struct.pack("!H", len(r)) + r for r in rdatas)
    return _COUNTS.pack(len(rdatas), 1 if authority else 0, 0) + body + authority


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# --- queries -------------------------------------------------------------------------------


class Query(NamedTuple):
    """One plain question, as `parse_query` or the dnspython path found it (a NamedTuple:
    built once per query, it must be cheap)."""

    head: bytes
    """The query's ID (2 bytes)."""
    rd: int
    """The recursion-desired bit (0 or 1), copied into the answer."""
    question: bytes
    """Name, type and class, exactly as sent."""
    name: bytes
    """The name in wire format, lower-case."""
    qtype: int
    edns: bytes | None
    """The OPT record to append to the answer (the client sent EDNS), else None."""
    limit: int
    """Largest answer this query may get over its transport."""

    @property
    def key(self) -> bytes:
        """The zone's answer key: the lower-case name and the type."""
        return self.name + self.question[-4:-2]


def opt_record(do_bit: int, payload: int = EDNS_PAYLOAD, ext_rcode: int = 0) -> bytes:
    """The OPT pseudo-record of an answer (no options; the DO bit echoed, RFC 3225)."""
    return b"\x00\x00\x29" + struct.pack("!HBBBBH", payload, ext_rcode, 0, do_bit, 0, 0)


_OPT_PLAIN = opt_record(0)
_OPT_DO = opt_record(0x80)


def parse_query(data: bytes, udp: bool) -> Query | None:
    """A plain query (one IN question, at most an OPT record, EDNS version 0), else None.

    None sends the packet to the careful path; this one must stay fast and never raise.
    """
    n = len(data)
    if n < 17 or data[2] & 0xFE or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None
    i = HEADER
    length = data[i]
    while length:
        if length > 63:
            return None  # a compression pointer or a reserved label type
        i += length + 1
        if i >= n or i > HEADER + MAX_NAME:
            return None
        length = data[i]
    end = i + 5
    if end > n or data[i + 3 : end] != CLASS_IN:
        return None
    arcount = data[10:12]
    if arcount == b"\x00\x00":
        if end != n:
            return None
        edns = None
        limit = MAX_UDP_PLAIN if udp else 65535
    elif arcount == b"\x00\x01":
        # The OPT record: root owner, type 41, payload, ext-rcode, version, flags, rdlength.
        if n < end + 11 or data[end : end + 3] != b"\x00\x00\x29" or data[end + 6]:
            return None
        if end + 11 + int.from_bytes(data[end + 9 : end + 11]) != n:
            return None
        edns = _OPT_DO if data[end + 7] & 0x80 else _OPT_PLAIN
        payload = int.from_bytes(data[end + 3 : end + 5])
        limit = max(MAX_UDP_PLAIN, min(payload, EDNS_PAYLOAD)) if udp else 65535
    else:
        return None
    name = data[HEADER : i + 1].lower()
    return Query(
        data[:2], data[2] & 1, data[HEADER:end], name, int.from_bytes(data[i + 1 : i + 3]),
        edns, limit,
    )  # fmt: skip


# --- answers ---------------------------------------------------------------------------------


def flags(rd: int, rcode: int, authoritative: bool = True, truncated: bool = False) -> bytes:
    """The answer's flags: QR, AA, TC, RD copied, RA (the server recurses for other names)."""
    high = 0x80 | (0x04 if authoritative else 0) | (0x02 if truncated else 0) | rd
    return bytes((high, 0x80 | (rcode & 0x0F)))


def assemble(query: Query, rcode: int, body: bytes) -> bytes:
    """The answer to `query`: `body` is a template (counts, then the records after the
    question). Truncated (TC, no records) when it does not fit the query's limit."""
    if query.edns is None:
        answer = query.head + flags(query.rd, rcode) + b"\x00\x01" + body[:6] + query.question
        answer += body[6:]
    else:
        counts = body[:4] + (int.from_bytes(body[4:6]) + 1).to_bytes(2)
        answer = query.head + flags(query.rd, rcode) + b"\x00\x01" + counts + query.question
        answer += body[6:] + query.edns
    if len(answer) > query.limit:
        return truncated(query, rcode)
    return answer


def truncated(query: Query, rcode: int = NOERROR) -> bytes:
    """TC set, the question only: the client asks again over TCP (RFC 1035 4.2.1)."""
    counts = b"\x00\x00\x00\x00\x00\x01" if query.edns is not None else b"\x00" * 6
    return (
        query.head + flags(query.rd, rcode, truncated=True) + b"\x00\x01" + counts
        + query.question + (query.edns or b"")
    )  # fmt: skip


def negative_body(query: Query, apex: bytes, soa: bytes, ttl: int) -> bytes:
    """NXDOMAIN/NODATA: no answers, the zone's SOA in the authority section (RFC 2308), its
    owner a pointer to where the zone's name ends the question's name."""
    owner = struct.pack("!H", 0xC000 | (HEADER + len(query.name) - len(apex)))
    return _COUNTS.pack(0, 1, 0) + record(owner, SOA, ttl, soa)


def error(data: bytes, rcode: int) -> bytes | None:
    """A header-only answer with `rcode` (FORMERR, NOTIMP, …) to a packet that has at least
    a header and is a query; None (drop it) otherwise."""
    if len(data) < HEADER or data[2] & 0x80:
        return None
    opcode_rd = data[2] & 0x79  # opcode and RD echoed
    return data[:2] + bytes((0x80 | opcode_rd, 0x80 | rcode)) + b"\x00" * 8
