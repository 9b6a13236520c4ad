"""The records of the cluster zone by name, compiled into answers whenever an owner changes.

An owner (a Service, `ns/name`, or the zone itself) sets its whole list of records at once;
`set_owner` works out which (name, type) sets changed and compiles only those into `answers`:
the wire-format name plus the type (2 bytes) → an answer template (see `wire.template`). The
answer path is then one dict lookup. `names` counts the records at each name and below it
(down to the zone's apex), so an empty non-terminal such as `default.svc.cluster.local` exists
(NODATA, not NXDOMAIN: RFC 8020) for as long as something lives under it.

Several owners may put records at one name (two Services with the same endpoint address both
have its PTR record); each keeps its own, and the answer holds them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from minik8s.dns import wire
from minik8s.dns.records import CNAME, SOA, Record

logger = logging.getLogger(__name__)

REVERSE_ZONE = "in-addr.arpa"
ZONE_OWNER = ""
"""The owner of the zone's own records (NS, dns-version)."""

Key = tuple[str, int]


class Zone:
    def __init__(self, domain: str, ttl: int) -> None:
        self.domain = domain.lower().strip(".")
        self.ttl = ttl
        self.apex = wire.name_to_wire(self.domain)
        self.reverse_apex = wire.name_to_wire(REVERSE_ZONE)
        self.answers: dict[bytes, bytes] = {}
        """Wire name (lower-case) + type (2 bytes) → answer template."""
        self.names: dict[bytes, int] = {}
        """Wire names that exist, in the cluster zone (with their ancestors) or the reverse
        zone (on their own) → how many records live at or below them."""
        self.cnames: dict[bytes, bytes] = {}
        """Wire names of ExternalName Services → their target's wire name."""
        self.serial = int(time.time())
        self.soa = wire.soa_rdata(self.domain, self.serial, ttl)
        self.reverse_soa = wire.soa_rdata(self.domain, self.serial, ttl)
        self._rrsets: dict[Key, dict[str, list[tuple[Any, ...]]]] = {}
        self._owned: dict[str, tuple[Record, ...]] = {}
        self._set_serial()

    # --- changes ---------------------------------------------------------------------------

    def set_owner(self, owner: str, records: Iterable[Record]) -> bool:
        """Make `records` the whole contribution of `owner`; True if an answer changed."""
        new = tuple(records)
        old = self._owned.get(owner, ())
        if new == old:
            return False
        new_sets: dict[Key, list[tuple[Any, ...]]] = {}
        for r in new:
            new_sets.setdefault((r.name, r.rtype), []).append(r.rdata)
        touched: list[Key] = []
        for key in {(r.name, r.rtype) for r in old} - new_sets.keys():
            owners = self._rrsets.get(key)
            if owners is not None and owners.pop(owner, None) is not None:
                if not owners:
                    del self._rrsets[key]
                touched.append(key)
        for key, rdatas in new_sets.items():
            owners = self._rrsets.setdefault(key, {})
            if owners.get(owner) != rdatas:
                owners[owner] = rdatas
                touched.append(key)
        old_names = {r.name for r in old}
        new_names = {r.name for r in new}
        for name in old_names - new_names:
            self._release(name)
        for name in new_names - old_names:
            self._hold(name)
        if new:
            self._owned[owner] = new
        else:
            self._owned.pop(owner, None)
        for key in touched:
            self._compile(key)
        self._set_serial()
        return True

    def remove_owner(self, owner: str) -> bool:
        return self.set_owner(owner, ())

    @property
    def owners(self) -> int:
        return len(self._owned)

    # --- reads -----------------------------------------------------------------------------

    def rdatas(self, name: str, rtype: int) -> list[tuple[Any, ...]]:
        owners = self._rrsets.get((name, rtype)) or {}
        return [rdata for rdatas in owners.values() for rdata in rdatas]

    def types_at(self, name: str) -> list[int]:
        return sorted({t for (n, t) in self._rrsets if n == name})

    def in_zone(self, name: bytes) -> bool:
        """True if the wire name is the zone's apex or below it."""
        return name.endswith(self.apex) and (
            len(name) == len(self.apex) or _label_boundary(name, len(name) - len(self.apex))
        )

    def authority(self, name: bytes) -> tuple[bytes, bytes] | None:
        """(apex, SOA rdata) of the zone that answers for `name`; None if neither does."""
        if self.in_zone(name):
            return self.apex, self.soa
        if name.endswith(self.reverse_apex) and name in self.names:
            return self.reverse_apex, self.reverse_soa
        return None

    # --- internals -------------------------------------------------------------------------

    def _compile(self, key: Key) -> None:
        name, rtype = key
        try:
            wname = wire.name_to_wire(name)
        except wire.NameError_:
            logger.warning("dns: skipping a record with an invalid name %r", name)
            return
        answer_key = wname + rtype.to_bytes(2)
        rdatas = self.rdatas(name, rtype)
        if rtype == CNAME:
            if rdatas:
                self.cnames[wname] = wire.name_to_wire(rdatas[0][0])
            else:
                self.cnames.pop(wname, None)
            return
        if not rdatas:
            self.answers.pop(answer_key, None)
            return
        encoded = []
        for rdata in rdatas:
            try:
                encoded.append(wire.rdata_wire(rtype, rdata))
            except (ValueError, OSError) as e:
                logger.warning("dns: skipping a record of %s: %s", name, e)
        self.answers[answer_key] = wire.template(rtype, self.ttl, encoded)

    def _hold(self, name: str) -> None:
        for ancestor in self._chain(name):
            self.names[ancestor] = self.names.get(ancestor, 0) + 1

    def _release(self, name: str) -> None:
        for ancestor in self._chain(name):
            left = self.names.get(ancestor, 0) - 1
            if left > 0:
                self.names[ancestor] = left
            else:
                self.names.pop(ancestor, None)

    def _chain(self, name: str) -> list[bytes]:
        """`name` and, inside the cluster zone, each ancestor down to the apex."""
        try:
            wname = wire.name_to_wire(name)
        except wire.NameError_:
            return []
        if not self.in_zone(wname):
            return [wname]
        chain = [wname]
        i = 0
        while len(wname) - i > len(self.apex):
            i += wname[i] + 1
            chain.append(wname[i:])
        return chain

    def _set_serial(self) -> None:
        """A new SOA serial (seconds since the epoch, always increasing) for the changed zone."""
        self.serial = max(self.serial + 1, int(time.time()))
        self.soa = wire.soa_rdata(self.domain, self.serial, self.ttl)
        self.reverse_soa = self.soa
        self.answers[self.apex + SOA.to_bytes(2)] = wire.template(SOA, self.ttl, [self.soa])
        self.names.setdefault(self.apex, 0)


def _label_boundary(name: bytes, offset: int) -> bool:
    """True if a label starts at `offset` of the uncompressed wire name `name`."""
    i = 0
    while i < offset:
        i += name[i] + 1
    return i == offset
