"""The LoadBalancer address pool and who holds which address (pure).

A pool is CIDRs and first-last ranges, comma-separated: `203.0.113.0/24`,
`198.51.100.10-198.51.100.20, 203.0.113.0/28`. A CIDR's network and broadcast addresses are
left out (but for /31 and /32). `networks` are what must be routed to a local interface before
any address is handed out: the CIDRs, and the smallest CIDRs covering each range.

Addresses are handed out lowest first. Nothing is kept on disk: the Services' statuses are the
record, and a restarted controller `restore`s the holders from them.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_SIZE = 1 << 20
"""Addresses a pool may hold (a /12): the free-address search is linear in the pool."""


class PoolError(Exception):
    """An address cannot be handed out; the message says why (it goes into an Event)."""


class PoolExhausted(PoolError):
    pass


@dataclass(frozen=True)
class Pool:
    text: str
    ranges: tuple[tuple[int, int], ...]
    """Usable addresses as inclusive (first, last) integers, sorted, not overlapping."""
    networks: tuple[str, ...]
    """CIDRs covering the pool, to be routed locally."""

    @property
    def size(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)

    def __contains__(self, ip: object) -> bool:
        try:
            n = int(ipaddress.IPv4Address(str(ip)))
        except ValueError:
            return False
        i = bisect.bisect_right(self.ranges, (n, 1 << 32)) - 1
        return i >= 0 and self.ranges[i][0] <= n <= self.ranges[i][1]

    def first_free(self, used: set[int]) -> str | None:
        for first, last in self.ranges:
            for n in range(first, last + 1):
                if n not in used:
                    return str(ipaddress.IPv4Address(n))
        return None


def parse(text: str) -> Pool:
    """A pool from its flag value; ValueError with a readable message."""
    spans: list[tuple[int, int]] = []
    networks: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                first_text, last_text = (x.strip() for x in part.split("-", 1))
                first = ipaddress.IPv4Address(first_text)
                last = ipaddress.IPv4Address(last_text)
                if last < first:
                    raise ValueError(f"{last} comes before {first}")
                spans.append((int(first), int(last)))
                networks += [str(n) for n in ipaddress.summarize_address_range(first, last)]
            else:
                network = ipaddress.IPv4Network(part, strict=True)
                hosts = (
                    (int(network.network_address) + 1, int(network.broadcast_address) - 1)
                    if network.prefixlen < 31
                    else (int(network.network_address), int(network.broadcast_address))
                )
                spans.append(hosts)
                networks.append(str(network))
        except ValueError as e:
            raise ValueError(
                f"invalid load balancer pool {part!r}: {e} (use CIDRs or first-last ranges)"
            ) from e
    if not spans:
        raise ValueError("the load balancer pool is empty")
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        if start <= end:
            raise ValueError(f"the parts of the load balancer pool {text!r} overlap")
    pool = Pool(text, tuple(spans), tuple(networks))
    if pool.size > MAX_SIZE:
        raise ValueError(f"the load balancer pool {text!r} is larger than a /12")
    return pool


@dataclass
class Allocator:
    """Which holder (a Service's uid) has which address of the pool."""

    pool: Pool
    holders: dict[str, str] = field(default_factory=dict)
    """address → holder."""
    names: dict[str, str] = field(default_factory=dict)
    """holder → `namespace/name`, for messages."""
    _by_holder: dict[str, str] = field(default_factory=dict)

    @property
    def in_use(self) -> int:
        return len(self.holders)

    def address_of(self, holder: str) -> str | None:
        return self._by_holder.get(holder)

    def restore(self, claims: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
        """Take (holder, name, address) claims read back from the Services, oldest first;
        returns the (name, address) of those refused (outside the pool, or an address that an
        earlier claim holds): they must get another address."""
        refused = []
        for holder, name, address in claims:
            if address not in self.pool or self.holders.get(address, holder) != holder:
                refused.append((name, address))
                continue
            if holder in self._by_holder and self._by_holder[holder] != address:
                refused.append((name, address))
                continue
            self._take(holder, name, address)
        return refused

    def assign(self, holder: str, name: str, requested: str = "") -> str:
        """The holder's address: the one it has (unless it asks for another), the requested
        one if free, else the lowest free one. Raises PoolError."""
        current = self._by_holder.get(holder)
        if requested and requested != current:
            if requested not in self.pool:
                raise PoolError(
                    f"requested loadBalancerIP {requested} is not in the load balancer pool "
                    f"{self.pool.text}"
                )
            other = self.holders.get(requested)
            if other is not None:
                raise PoolError(
                    f"requested loadBalancerIP {requested} is already used by "
                    f"{self.names.get(other, other)}"
                )
            self.release(holder)
            self._take(holder, name, requested)
            return requested
        if current is not None:
            return current
        used = {int(ipaddress.IPv4Address(a)) for a in self.holders}
        address = self.pool.first_free(used)
        if address is None:
            raise PoolExhausted(
                f"no free address in the load balancer pool {self.pool.text} "
                f"({self.in_use} of {self.pool.size} in use)"
            )
        self._take(holder, name, address)
        return address

    def release(self, holder: str) -> str | None:
        address = self._by_holder.pop(holder, None)
        if address is not None:
            self.holders.pop(address, None)
        self.names.pop(holder, None)
        return address

    def _take(self, holder: str, name: str, address: str) -> None:
        self.holders[address] = holder
        self._by_holder[holder] = address
        self.names[holder] = name
