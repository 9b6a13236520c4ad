"""The endpoint names of ClusterIP Services, answered on demand instead of compiled.

CoreDNS (beyond the specification, which asks it of headless Services only) answers
`<hostname>.<svc>.<ns>.svc.<zone>` for the endpoints of every Service, and the PTR record of
each endpoint address. Compiled, those are two answers per endpoint: at 50 000 endpoints, most
of the zone's memory, for names rarely asked. So for ClusterIP Services they are looked up when
asked (a few tens of microseconds): the forward name from the Endpoints the informer holds, the
reverse one through an index of addresses → Services kept here. Headless Services' endpoint
records stay compiled in the zone (`records`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.dns import records
from minik8s.dns.records import EndpointsInfo

Lookup = Callable[[str], dict[str, Any] | None]
"""`ns/name` → the informer's copy of the object, or None."""


class EndpointNames:
    def __init__(self, domain: str, services: Lookup, endpoints: Lookup) -> None:
        self.domain = domain
        self.suffix = f".svc.{domain}"
        self._services = services
        self._endpoints = endpoints
        self._by_ip: dict[str, str | tuple[str, ...]] = {}
        """Endpoint address → the ClusterIP Service (`ns/name`) or Services listing it."""
        self._ips: dict[str, tuple[str, ...]] = {}
        """`ns/name` → its indexed addresses."""

    def update(
        self, owner: str, service: dict[str, Any] | None, eps: dict[str, Any] | None
    ) -> None:
        """Index the ready addresses of ClusterIP Service `owner` (none when it is gone or is
        not a ClusterIP Service)."""
        ips: tuple[str, ...] = ()
        if service is not None:
            info = records.service_info(service)
            if info.type != "ExternalName" and info.cluster_ip not in ("", "None"):
                ips = tuple(dict.fromkeys(a.ip for a in _ready(info, eps)))
        old = self._ips.get(owner, ())
        if old == ips:
            return
        for ip in set(old) - set(ips):
            self._drop(ip, owner)
        for ip in set(ips) - set(old):
            self._add(ip, owner)
        if ips:
            self._ips[owner] = ips
        else:
            self._ips.pop(owner, None)

    def address_of(self, name: str) -> str | None:
        """The address of `<hostname>.<svc>.<ns>.svc.<zone>` if it names an endpoint of a
        ClusterIP Service."""
        if not name.endswith(self.suffix):
            return None
        labels = name[: -len(self.suffix)].split(".")
        if len(labels) != 3:
            return None
        host, service, namespace = labels
        owner = f"{namespace}/{service}"
        if owner not in self._ips:
            return None
        found = self._services(owner)
        if found is None:
            return None
        for address in _ready(records.service_info(found), self._endpoints(owner)):
            if records.endpoint_hostname(address) == host:
                return address.ip
        return None

    def names_of(self, ip: str) -> list[str]:
        """The names of the endpoints of ClusterIP Services at `ip` (for its PTR records)."""
        owners = self._by_ip.get(ip)
        if owners is None:
            return []
        found = []
        for owner in (owners,) if isinstance(owners, str) else owners:
            namespace, _, service = owner.partition("/")
            for address in records.endpoints_info(self._endpoints(owner)).ready:
                if address.ip == ip:
                    host = records.endpoint_hostname(address)
                    found.append(f"{host}.{records.service_name(service, namespace, self.domain)}")
                    break
        return found

    def _add(self, ip: str, owner: str) -> None:
        current = self._by_ip.get(ip)
        if current is None:
            self._by_ip[ip] = owner
        elif isinstance(current, str):
            self._by_ip[ip] = (current, owner)
        else:
            self._by_ip[ip] = (*current, owner)

    def _drop(self, ip: str, owner: str) -> None:
        current = self._by_ip.get(ip)
        if current is None or current == owner:
            self._by_ip.pop(ip, None)
        elif isinstance(current, tuple):
            left = tuple(o for o in current if o != owner)
            self._by_ip[ip] = left[0] if len(left) == 1 else left


def _ready(info: records.ServiceInfo, eps: dict[str, Any] | None) -> tuple[records.Address, ...]:
    addresses: EndpointsInfo = records.endpoints_info(eps)
    return addresses.ready + (addresses.not_ready if info.tolerate_unready else ())
