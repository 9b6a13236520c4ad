"""Where a Service's ClusterIP and node ports are held: one etcd key per address, created in
the same transaction as the Service, so any number of apiservers allocate without an address
ever given twice.

    /registry/ranges/serviceips/<ip>            {"service": "<ns>/<name>", "uid": "<uid>"}
    /registry/ranges/servicenodeports/<port>    (the same)

A Service create is one etcd transaction: the Service's key must not exist, nor any of its
address keys; all are written together. An update that takes new node ports creates their
keys and deletes the released ones in the compare-and-swap of the Service; a delete removes
them with the Service. When a key is taken (another apiserver won the address a moment
before), nothing is written and the registry picks another address (or answers 422 when the
address was asked for by value). The watch cache's Services are only a hint of what is
free; etcd's transaction is the truth, so no lock serialises Service writes.

Why not Kubernetes' RangeAllocation bitmap (`/registry/ranges/serviceips`, one key holding
the whole range, updated by compare-and-swap before the Service is written): every Service
create through every apiserver then contends on that one key (a lost race re-reads and
retries it), the bitmap and the Service are two writes (Kubernetes runs a repair loop every
3 minutes for allocations whose Service write failed), and every allocation writes the whole
bitmap again (8 KiB for a /16) into etcd's history. One key per address is what Kubernetes
itself moved to (the MultiCIDRServiceAllocator's IPAddress objects, GA in 1.33); unlike it,
the keys here share the Service's transaction, so there is nothing to repair except Services
written before the keys existed (`missing_claims`, run when an apiserver starts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from minik8s.api.meta import Object
from minik8s.api.resources import SERVICES
from minik8s.store import errors as store_errors
from minik8s.store.etcd import Claims, EtcdStore

logger = logging.getLogger(__name__)

PREFIX = "/registry/ranges/"
IP_PREFIX = f"{PREFIX}serviceips/"
PORT_PREFIX = f"{PREFIX}servicenodeports/"
ATTEMPTS = 16
"""Allocation rounds before a create or update gives up with a 409 (each lost round means
another apiserver took one of the addresses at the same moment)."""


@dataclass(frozen=True)
class Held:
    """The addresses a Service holds."""

    ips: frozenset[str] = frozenset()
    ports: frozenset[int] = frozenset()

    def keys(self) -> set[str]:
        return {ip_key(ip) for ip in self.ips} | {port_key(port) for port in self.ports}


@dataclass
class Taken:
    """Addresses found taken in etcd while allocating (beyond what the cache shows)."""

    ips: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)

    def add_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key.startswith(IP_PREFIX):
                self.ips.add(key[len(IP_PREFIX) :])
            elif key.startswith(PORT_PREFIX):
                self.ports.add(int(key[len(PORT_PREFIX) :]))


def ip_key(ip: str) -> str:
    return f"{IP_PREFIX}{ip}"


def port_key(port: int) -> str:
    return f"{PORT_PREFIX}{port}"


def held(svc: Object | None) -> Held:
    """ClusterIP(s), node ports and the health check node port of `svc` (None: nothing)."""
    if svc is None:
        return Held()
    spec = svc.get("spec") or {}
    ips = {
        ip
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]
        if isinstance(ip, str) and ip and ip != "None"
    }
    ports = {
        int(p["nodePort"])
        for p in spec.get("ports") or []
        if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]
    }
    health = spec.get("healthCheckNodePort")
    if isinstance(health, int) and health:
        ports.add(health)
    return Held(frozenset(ips), frozenset(ports))


def owner(svc: Object) -> Object:
    metadata = svc.get("metadata") or {}
    return {
        "service": f"{metadata.get('namespace')}/{metadata.get('name')}",
        "uid": metadata.get("uid"),
    }


def claims(old: Object | None, new: Object | None) -> Claims:
    """The keys a write from `old` to `new` creates and deletes (None: absent)."""
    before, after = held(old).keys(), held(new).keys()
    take = {key: owner(new) for key in sorted(after - before)} if new is not None else {}
    return Claims(take=take, release=tuple(sorted(before - after)))


def missing_claims(svc: Object, existing: dict[str, Object]) -> tuple[Claims, list[str]]:
    """For a stored Service: the keys it lacks (to create), and the keys of its addresses that
    another Service holds (`existing`: key -> value of every allocation key)."""
    take: dict[str, Object] = {}
    clashes: list[str] = []
    mine = owner(svc)
    for key in sorted(held(svc).keys()):
        value = existing.get(key)
        if value is None:
            take[key] = mine
        elif value.get("uid") != mine["uid"]:
            clashes.append(f"{key.rsplit('/', 1)[1]} (also held by {value.get('service')})")
    return Claims(take=take), clashes


async def repair(store: EtcdStore) -> int:
    """Create the address keys of stored Services that lack them (written before the keys
    existed, or by hand), each in a compare-and-swap of its Service; log addresses two
    Services hold (Kubernetes' repair loop emits `ClusterIPAlreadyAllocated` for these).
    Returns how many Services were repaired."""
    keys, _ = await store.list(PREFIX)
    existing = {item.key: item.value for item in keys}
    services, _ = await store.list(SERVICES.storage_prefix)
    repaired = 0
    for item in services:
        claim, clashes = missing_claims(item.value, existing)
        for clash in clashes:
            logger.warning("service %s: address %s", owner(item.value)["service"], clash)
        if not claim.take:
            continue
        try:
            await store.write_with_claims(item.key, item.value, item.mod_revision, claim)
        except (store_errors.RevisionConflict, store_errors.KeyNotFound):
            continue  # changed meanwhile: the next round looks again
        except store_errors.ClaimsTaken as e:
            logger.warning("service %s: addresses held by another: %s", item.key, e.keys)
            continue
        existing.update(claim.take)
        repaired += 1
    if repaired:
        logger.info("recorded the addresses of %d service(s) in etcd", repaired)
    return repaired
