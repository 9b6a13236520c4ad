"""The records of the cluster zone, compiled into wire-format answers whenever an owner changes.

An owner (a Service, `ns/name`, or the zone itself) sets its whole list of records at once;
`set_owner` encodes them, works out which (name, type) sets changed and rewrites only those in
`answers`: the wire-format name plus the type (2 bytes) → an answer template (`wire.template`
layout). The answer path is then one dict lookup.

Memory is what limits a zone of 10 000 Services and 50 000 endpoints, so nothing but the
answers is kept per record: an owner remembers the keys it contributes to (the same bytes
objects as the answers' keys), and a key remembers its owner, or, in the rare case several
owners put records at one name (two Services with the same endpoint address both have its
PTR record), each owner's part. A name exists when it has an answer, is an ExternalName's
CNAME, or is the ancestor of one inside the zone (an empty non-terminal such as
`default.svc.cluster.local`: NODATA, not NXDOMAIN, RFC 8020); `parents` counts those.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterable

from minik8s.dns import wire
from minik8s.dns.records import CNAME, NS, PTR, SOA, SRV, TXT, A, Record

logger = logging.getLogger(__name__)

REVERSE_ZONE = "in-addr.arpa"
ZONE_OWNER = ""
"""The owner of the zone's own records (NS, dns-version)."""
TYPES = tuple(t.to_bytes(2) for t in (A, NS, CNAME, SOA, PTR, TXT, SRV))
"""The types the zone may hold (a name with none of them has no answer)."""
_CNAME = CNAME.to_bytes(2)
_RR = struct.Struct("!HHIH")

Part = str | dict[str, bytes]
"""A key's owner, or each owner's part: a 2-byte count, then its records."""


class Zone:
    def __init__(self, domain: str, ttl: int) -> None:
        self.domain = domain.lower().strip(".")
        self.ttl = ttl
        self.apex = wire.name_to_wire(self.domain)
        self.reverse_apex = wire.name_to_wire(REVERSE_ZONE)
        self.answers: dict[bytes, bytes] = {}
        """Wire name (lower-case) + type (2 bytes) → answer template."""
        self.cnames: dict[bytes, bytes] = {}
        """Wire names of ExternalName Services → their target's wire name."""
        self.parents: dict[bytes, int] = {}
        """Proper ancestors inside the zone of the names that have records → how many."""
        self.serial = int(time.time())
        self.soa = wire.soa_rdata(self.domain, self.serial, ttl)
        self._owned: dict[str, tuple[bytes, ...]] = {}
        self._parts: dict[bytes, Part] = {}
        for permanent in (f"svc.{self.domain}", f"pod.{self.domain}"):
            self._hold(wire.name_to_wire(f"x.{permanent}"))  # both always exist
        self._set_serial()

    # --- changes ---------------------------------------------------------------------------

    def set_owner(self, owner: str, records: Iterable[Record]) -> bool:
        """Make `records` the whole contribution of `owner`; True if an answer changed."""
        new = self._encode(records)
        old_keys = self._owned.get(owner, ())
        stored = {k: k for k in old_keys}  # the key objects the dicts hold: one copy each
        changed = False
        for key in old_keys:
            if key not in new:
                self._put(key, owner, None)
                changed = True
        for key, part in new.items():
            key = stored.get(key, key)
            if self._part_of(key, owner) != part:
                self._put(key, owner, part)
                changed = True
        if not changed:
            return False
        old_names = {k[:-2] for k in old_keys}
        new_names = {k[:-2] for k in new}
        for name in old_names - new_names:
            self._release(name)
        for name in new_names - old_names:
            self._hold(name)
        if new:
            self._owned[owner] = tuple(stored.get(k, k) for k in new)
        else:
            self._owned.pop(owner, None)
        self._set_serial()
        return True

    def remove_owner(self, owner: str) -> bool:
        return self.set_owner(owner, ())

    # --- reads -----------------------------------------------------------------------------

    @property
    def owners(self) -> int:
        return len(self._owned)

    @property
    def size(self) -> int:
        """Answers compiled (one per name and type)."""
        return len(self.answers) + len(self.cnames)

    def exists(self, name: bytes) -> bool:
        return (
            name in self.parents
            or name in self.cnames
            or name == self.apex
            or any(name + t in self.answers for t in TYPES)
        )

    def in_zone(self, name: bytes) -> bool:
        """True if the wire name is the zone's apex or below it."""
        return name.endswith(self.apex) and (
            len(name) == len(self.apex) or _label_boundary(name, len(name) - len(self.apex))
        )

    def authority(self, name: bytes) -> tuple[bytes, bytes] | None:
        """(apex, SOA rdata) of the zone that answers for `name`; None if neither does."""
        if self.in_zone(name):
            return self.apex, self.soa
        if name.endswith(self.reverse_apex) and self.exists(name):
            return self.reverse_apex, self.soa
        return None

    # --- internals -------------------------------------------------------------------------

    def _encode(self, records: Iterable[Record]) -> dict[bytes, bytes]:
        """key → part (count, then the records in wire format, each owned by the question)."""
        grouped: dict[bytes, list[bytes]] = {}
        for r in records:
            try:
                key = wire.name_to_wire(r.name) + r.rtype.to_bytes(2)
                data = wire.name_to_wire(r.rdata[0]) if r.rtype == CNAME else _rr(r, self.ttl)
            except (ValueError, OSError) as e:
                logger.warning("dns: skipping a record of %s: %s", r.name, e)
                continue
            found = grouped.setdefault(key, [])
            if data not in found:
                found.append(data)
        return {k: len(v).to_bytes(2) + b"".join(v) for k, v in grouped.items()}

    def _part_of(self, key: bytes, owner: str) -> bytes | None:
        part = self._parts.get(key)
        if isinstance(part, dict):
            return part.get(owner)
        if part != owner:
            return None
        if key.endswith(_CNAME):
            return b"\x00\x01" + self.cnames[key[:-2]]
        answer = self.answers[key]
        return answer[:2] + answer[6:]

    def _put(self, key: bytes, owner: str, part: bytes | None) -> None:
        """Set (or, with None, remove) `owner`'s part of `key` and rewrite its answer."""
        current = self._parts.get(key)
        if isinstance(current, dict):
            if part is None:
                current.pop(owner, None)
            else:
                current[owner] = part
            parts = current
        elif current is None or current == owner:
            parts = {owner: part} if part is not None else {}
        else:  # another owner's records are there already
            if part is None:
                return
            parts = {current: self._part_of(key, current) or b"\x00\x00", owner: part}
        if not parts:
            self._parts.pop(key, None)
            self.answers.pop(key, None)
            self.cnames.pop(key[:-2], None)
            return
        if len(parts) == 1:
            [(only, merged)] = parts.items()
            self._parts[key] = only
        else:
            self._parts[key] = parts
            ordered = [parts[o] for o in sorted(parts)]
            count = sum(int.from_bytes(p[:2]) for p in ordered)
            merged = count.to_bytes(2) + b"".join(p[2:] for p in ordered)
        if key.endswith(_CNAME):
            self.cnames[key[:-2]] = merged[2:]
        else:
            self.answers[key] = merged[:2] + b"\x00\x00\x00\x00" + merged[2:]

    def _hold(self, name: bytes) -> None:
        for ancestor in self._ancestors(name):
            self.parents[ancestor] = self.parents.get(ancestor, 0) + 1

    def _release(self, name: bytes) -> None:
        for ancestor in self._ancestors(name):
            left = self.parents.get(ancestor, 0) - 1
            if left > 0:
                self.parents[ancestor] = left
            else:
                self.parents.pop(ancestor, None)

    def _ancestors(self, name: bytes) -> list[bytes]:
        """The proper ancestors of `name` inside the cluster zone, down to its apex."""
        if not self.in_zone(name):
            return []
        found = []
        i = 0
        while len(name) - i > len(self.apex):
            i += name[i] + 1
            found.append(name[i:])
        return found

    def _set_serial(self) -> None:
        """A new SOA serial (seconds since the epoch, always increasing) for the changed zone."""
        self.serial = max(self.serial + 1, int(time.time()))
        self.soa = wire.soa_rdata(self.domain, self.serial, self.ttl)
        self.answers[self.apex + SOA.to_bytes(2)] = wire.template(SOA, self.ttl, [self.soa])


def _rr(record: Record, ttl: int) -> bytes:
    rdata = wire.rdata_wire(record.rtype, record.rdata)
    return wire.QUESTION_PTR + _RR.pack(record.rtype, 1, ttl, len(rdata)) + rdata


def _label_boundary(name: bytes, offset: int) -> bool:
    """True if a label starts at `offset` of the uncompressed wire name `name`."""
    i = 0
    while i < offset:
        i += name[i] + 1
    return i == offset
