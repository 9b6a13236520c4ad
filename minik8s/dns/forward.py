"""Names outside the cluster zone: asked of the upstream resolvers, with a small cache.

Upstreams come from `--upstream`: addresses (`192.0.2.53`, `127.0.0.2:5353`) or resolv.conf
files (the default, `/etc/resolv.conf`, as CoreDNS's `forward . /etc/resolv.conf`). Each is
asked in turn, over UDP, then TCP when the answer was truncated (dnspython's
`udp_with_fallback`); none answering gives SERVFAIL. Answers are cached (at most
`cache_size`, LRU) for their smallest TTL, capped at `max_ttl` (`negative_ttl` for NXDOMAIN and
NODATA), and served with their TTLs counted down. At most `max_in_flight` upstream queries run
at once; beyond that, SERVFAIL at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

logger = logging.getLogger(__name__)


class Upstream(NamedTuple):
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_upstream(text: str) -> list[Upstream]:
    """One `--upstream` value: `IP`, `IP:PORT`, `[IPv6]:PORT`, or a resolv.conf path."""
    text = text.strip()
    if not text:
        return []
    if "/" in text:
        return _from_resolv_conf(Path(text))
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # ValueError for a name: upstreams are addresses
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return [Upstream(host, port)]


def _from_resolv_conf(path: Path) -> list[Upstream]:
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e}") from e
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                ipaddress.ip_address(parts[1].split("%")[0])
            except ValueError:
                continue
            found.append(Upstream(parts[1].split("%")[0]))
    return found


@dataclass
class ForwardStats:
    queries: int = 0
    failures: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    refused_busy: int = 0
    by_upstream: dict[str, int] = field(default_factory=dict)


class CacheEntry(NamedTuple):
    stored: float
    expires: float
    wire: bytes


class Forwarder:
    def __init__(
        self,
        upstreams: Iterable[Upstream],
        *,
        timeout: float = 2.0,
        cache_size: int = 10_000,
        max_ttl: int = 30,
        negative_ttl: int = 5,
        max_in_flight: int = 256,
    ) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.cache_size = cache_size
        self.max_ttl = max_ttl
        self.negative_ttl = negative_ttl
        self.stats = ForwardStats()
        self._cache: OrderedDict[tuple[str, int, int, bool], CacheEntry] = OrderedDict()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight

    @property
    def cache_entries(self) -> int:
        return len(self._cache)

    async def lookup(
        self, name: dns.name.Name, rdtype: int, rdclass: int, dnssec: bool
    ) -> dns.message.Message | None:
        """The upstream's answer (from the cache when fresh), or None if none answered."""
        key = (name.to_text().lower(), rdtype, rdclass, dnssec)
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is not None and entry.expires > now:
            self._cache.move_to_end(key)
            self.stats.cache_hits += 1
            return _aged(entry, now)
        self.stats.cache_misses += 1
        if entry is not None:
            del self._cache[key]
        if self._in_flight.locked():
            self.stats.refused_busy += 1
            return None
        async with self._in_flight:
            response = await self._ask(name, rdtype, rdclass, dnssec)
        if response is not None:
            self._store(key, response, now)
        return response

    async def _ask(
        self, name: dns.name.Name, rdtype: int, rdclass: int, dnssec: bool
    ) -> dns.message.Message | None:
        query = dns.message.make_query(
            name, dns.rdatatype.RdataType.make(rdtype), dns.rdataclass.RdataClass.make(rdclass),
            use_edns=0, payload=1232, want_dnssec=dnssec,
        )  # fmt: skip
        query.id = random.randrange(65536)
        for upstream in self.upstreams:
            self.stats.queries += 1
            self.stats.by_upstream[str(upstream)] = self.stats.by_upstream.get(str(upstream), 0) + 1
            try:
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, upstream.host, timeout=self.timeout, port=upstream.port
                )
            except (dns.exception.DNSException, OSError, EOFError) as e:
                self.stats.failures += 1
                logger.debug("dns: upstream %s failed for %s: %r", upstream, name, e)
                continue
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                self.stats.failures += 1
                continue
            return response
        return None

    def _store(
        self, key: tuple[str, int, int, bool], response: dns.message.Message, now: float
    ) -> None:
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or response.flags & dns.flags.TC:
            return
        ttls = [rrset.ttl for rrset in (*response.answer, *response.authority)]
        negative = rcode == dns.rcode.NXDOMAIN or not response.answer
        cap = self.negative_ttl if negative else self.max_ttl
        ttl = min([*ttls, cap])
        if ttl <= 0:
            return
        for section in (response.answer, response.authority, response.additional):
            for rrset in section:  # served with at most the time it stays cached (CoreDNS too)
                rrset.ttl = min(rrset.ttl, ttl)
        self._cache[key] = CacheEntry(now, now + ttl, response.to_wire())
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def _aged(entry: CacheEntry, now: float) -> dns.message.Message:
    """The cached answer with its TTLs counted down by the time it spent in the cache."""
    message = dns.message.from_wire(entry.wire)
    elapsed = int(now - entry.stored)
    for section in (message.answer, message.authority, message.additional):
        for rrset in section:
            rrset.ttl = max(0, rrset.ttl - elapsed)
    return message


def reply(
    client: dns.message.Message,
    upstream: dns.message.Message | None,
    limit: int,
    prefix: list[dns.rrset.RRset] | None = None,
) -> bytes:
    """The answer to `client` from the upstream's (SERVFAIL when there is none); `prefix`
    (a CNAME) goes first in the answer section. TC when it does not fit `limit`."""
    response = dns.message.make_response(client)
    response.flags |= dns.flags.RA
    if upstream is None:
        response.set_rcode(dns.rcode.SERVFAIL)
    else:
        response.set_rcode(upstream.rcode())
        response.answer = [*(prefix or []), *upstream.answer]
        response.authority = [] if prefix else list(upstream.authority)
        if prefix:
            response.flags |= dns.flags.AA
            if upstream.rcode() == dns.rcode.NXDOMAIN:
                response.set_rcode(dns.rcode.NOERROR)  # the CNAME's owner exists
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer, response.authority, response.additional = [], [], []
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)
