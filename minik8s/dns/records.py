"""Services and EndpointSlices → resource records, as the Kubernetes DNS specification lays
them out.

Pure: no I/O, no wire format. Names are lower-case, without the trailing dot. What each
Service owns (kubernetes/dns `docs/specification.md`, schema 1.1.0):

- ClusterIP: `A <svc>.<ns>.svc.<zone>` → the ClusterIP; `SRV _<port>._<proto>.<svc>…` per
  named port → the Service name; `PTR` of the ClusterIP → the Service name.
- headless (`clusterIP: None`): one `A <svc>…` per ready endpoint address (none: the name does
  not exist, NXDOMAIN); `A <hostname>.<svc>…` per ready address; SRV per named port and
  address → `<hostname>.<svc>…` with the endpoint's port.
- ExternalName: `CNAME <svc>…` → `spec.externalName`.
- headless: also `A <hostname>.<svc>…` and the `PTR` of each ready address → that name.
  `<hostname>` is the address's `hostname` (set from a pod's `hostname`/`subdomain`), else
  its IP with dashes (`10-244-1-5`), CoreDNS's identifier. CoreDNS has them for the endpoints
  of ClusterIP Services too; here those are answered on demand (`endpointnames`).

Pod names (`a-b-c-d.<ns>.pod.<zone>` → a.b.c.d) are answered from the name alone
(`parse_pod_name`), like CoreDNS's `pods insecure`, the mode kubeadm configures.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from minik8s.api import endpointslices
from minik8s.api.meta import annotations_of, name_of, namespace_of

A = 1
NS = 2
CNAME = 5
SOA = 6
PTR = 12
TXT = 16
AAAA = 28
SRV = 33
OPT = 41
ANY = 255

SCHEMA_VERSION = "1.1.0"
"""The specification's schema version, served as `TXT dns-version.<zone>`."""
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
"""The specification's (deprecated) annotation: every endpoint of the Service counts as ready."""
DNS_SERVICE = ("kube-system", "kube-dns")
"""The Service whose ClusterIP names the zone's name server, `ns.dns.<zone>`."""


class Record(NamedTuple):
    name: str
    """Owner name: lower-case, no trailing dot."""
    rtype: int
    rdata: tuple[Any, ...]
    """A: (ip,); CNAME, PTR, NS: (target,); SRV: (priority, weight, port, target); TXT: (text,)."""


def service_name(service: str, namespace: str, zone: str) -> str:
    return f"{service}.{namespace}.svc.{zone}"


def reverse_name(ip: str) -> str:
    """`10.244.1.5` → `5.1.244.10.in-addr.arpa`."""
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def dashed(ip: str) -> str:
    return ip.replace(".", "-")


def is_ipv4(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def zone_records(zone: str) -> list[Record]:
    """The records of the zone itself (the SOA is made by `zone.Zone`: its serial moves)."""
    return [
        Record(zone, NS, (f"ns.dns.{zone}",)),
        Record(f"dns-version.{zone}", TXT, (SCHEMA_VERSION,)),
    ]


class ServiceInfo(NamedTuple):
    """What the records of a Service depend on (kept by the informer: see `compact_service`)."""

    type: str
    cluster_ip: str
    external_name: str
    ports: tuple[tuple[str, int, str], ...]
    """(name, port, protocol) of each port."""
    tolerate_unready: bool


class Address(NamedTuple):
    ip: str
    hostname: str
    ports: tuple[tuple[str, int, str], ...]
    """Its subset's ports: (name, port, protocol); one tuple shared by the whole subset."""


class EndpointsInfo(NamedTuple):
    ready: tuple[Address, ...]
    not_ready: tuple[Address, ...]


EMPTY = EndpointsInfo((), ())


def service_info(service: Mapping[str, Any]) -> ServiceInfo:
    """The informer's compact form, or computed from a full Service."""
    info = service.get("dns")
    if isinstance(info, ServiceInfo):
        return info
    spec = service.get("spec") or {}
    ports = tuple(
        (_intern(p.get("name") or ""), int(p.get("port") or 0), _intern(p.get("protocol") or "TCP"))
        for p in spec.get("ports") or []
    )
    return ServiceInfo(
        _intern(str(spec.get("type") or "ClusterIP")),
        str(spec.get("clusterIP") or ""),
        str(spec.get("externalName") or ""),
        ports,
        annotations_of(service).get(TOLERATE_UNREADY) == "true",
    )


def endpoints_info(endpoints: Mapping[str, Any] | None) -> EndpointsInfo:
    """The compact form a Service's slices were merged into (`merge`), or computed from one
    full EndpointSlice."""
    if not endpoints:
        return EMPTY
    info = endpoints.get("dns")
    if isinstance(info, EndpointsInfo):
        return info
    return slice_info(endpoints)


def slice_info(slice_: Mapping[str, Any]) -> EndpointsInfo:
    """An EndpointSlice's IPv4 endpoints, ready or not (CoreDNS answers with the ready ones:
    unset `ready` counts as ready; the EndpointSlice controller already sets ready under
    `publishNotReadyAddresses`), each endpoint's first address, its hostname and the slice's
    ports."""
    ports = tuple(
        (_intern(p.get("name") or ""), int(p.get("port") or 0), _intern(p.get("protocol") or "TCP"))
        for p in slice_.get("ports") or []
    )
    ready: list[Address] = []
    not_ready: list[Address] = []
    for endpoint in slice_.get("endpoints") or []:
        addresses = endpoint.get("addresses") or []
        if not addresses or not is_ipv4(addresses[0]):
            continue
        found = ready if endpointslices.conditions(endpoint).ready else not_ready
        found.append(Address(addresses[0], str(endpoint.get("hostname") or ""), ports))
    return EndpointsInfo(tuple(ready), tuple(not_ready))


def merge(infos: list[EndpointsInfo]) -> EndpointsInfo:
    """A Service's slices as one, their endpoints in turn (an address in two slices, of two
    port sets, is listed with each set's ports; the records it gives are kept once)."""
    if len(infos) == 1:
        return infos[0]
    return EndpointsInfo(
        tuple(a for info in infos for a in info.ready),
        tuple(a for info in infos for a in info.not_ready),
    )


def service_records(
    service: Mapping[str, Any], endpoints: Mapping[str, Any] | None, zone: str
) -> list[Record]:
    """Every record `service` (with its endpoints, if any) owns, without duplicates."""
    info = service_info(service)
    name, namespace = name_of(service), namespace_of(service)
    fqdn = service_name(name, namespace, zone)
    out: dict[Record, None] = {}  # ordered set

    def add(record: Record) -> None:
        out[record] = None

    if info.type == "ExternalName":
        target = info.external_name.rstrip(".").lower()
        if target:
            add(Record(fqdn, CNAME, (target,)))
        return list(out)
    cluster_ip = info.cluster_ip
    headless = cluster_ip == "None"
    if not headless and is_ipv4(cluster_ip):
        add(Record(fqdn, A, (cluster_ip,)))
        add(Record(reverse_name(cluster_ip), PTR, (fqdn,)))
        for port_name, port, protocol in info.ports:
            if port_name:
                srv = _srv_name(port_name, protocol, fqdn)
                add(Record(srv, SRV, (0, 100, port, fqdn)))
        if (namespace, name) == DNS_SERVICE:
            add(Record(f"ns.dns.{zone}", A, (cluster_ip,)))
    elif not headless:
        return []  # no address allocated yet (or not IPv4): nothing to answer
    addresses = endpoints_info(endpoints)
    ready = addresses.ready + (addresses.not_ready if info.tolerate_unready else ())
    srv_targets: dict[str, list[tuple[int, str]]] = {}
    for address in ready if headless else ():
        host = f"{endpoint_hostname(address)}.{fqdn}"
        add(Record(fqdn, A, (address.ip,)))
        for port_name, port, protocol in address.ports:
            if port_name:
                srv = _srv_name(port_name, protocol, fqdn)
                srv_targets.setdefault(srv, []).append((port, host))
        add(Record(host, A, (address.ip,)))
        add(Record(reverse_name(address.ip), PTR, (host,)))
    for srv, targets in srv_targets.items():
        weight = max(1, 100 // len(set(targets)))
        for port_number, host in targets:
            add(Record(srv, SRV, (0, weight, port_number, host)))
    return list(out)


def endpoint_hostname(address: Address) -> str:
    return address.hostname.lower() if address.hostname else dashed(address.ip)


def _srv_name(port_name: Any, protocol: Any, fqdn: str) -> str:
    return f"_{str(port_name).lower()}._{str(protocol or 'TCP').lower()}.{fqdn}"


def parse_pod_name(name: str, zone: str) -> str | None:
    """The address of `a-b-c-d.<ns>.pod.<zone>`, or None when `name` is not one."""
    suffix = f".pod.{zone}"
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    if len(labels) != 2 or not labels[1]:
        return None
    ip = labels[0].replace("-", ".")
    return ip if labels[0].count("-") == 3 and is_ipv4(ip) else None


# --- what the informers keep (client-go's informer transform) ------------------------------


def compact_service(obj: dict[str, Any]) -> dict[str, Any]:
    """The informer's copy of a Service: its metadata's name, namespace and resourceVersion,
    and its `ServiceInfo` (a few hundred bytes where the object takes a few kilobytes)."""
    return {"metadata": _small_meta(obj), "dns": service_info(obj)}


def compact_slice(obj: dict[str, Any]) -> dict[str, Any]:
    """The informer's copy of an EndpointSlice: its metadata, its Service (`ns/name`, or None)
    and its `EndpointsInfo`."""
    service = endpointslices.service_of(obj)
    key = f"{_intern(service[0])}/{service[1]}" if service else None
    return {"metadata": _small_meta(obj), "service": key, "dns": slice_info(obj)}


def _small_meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    small = {k: meta[k] for k in ("name", "resourceVersion") if k in meta}
    if meta.get("namespace"):
        small["namespace"] = _intern(meta["namespace"])
    return small


def _intern(text: str) -> str:
    """One copy of the strings many objects repeat (namespaces, port names, protocols)."""
    return sys.intern(str(text))
