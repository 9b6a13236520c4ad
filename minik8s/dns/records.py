"""Services and Endpoints → resource records, as the Kubernetes DNS specification lays them out.

Pure: no I/O, no wire format. Names are lower-case, without the trailing dot. What each
Service owns (kubernetes/dns `docs/specification.md`, schema 1.1.0):

- ClusterIP: `A <svc>.<ns>.svc.<zone>` → the ClusterIP; `SRV _<port>._<proto>.<svc>…` per
  named port → the Service name; `PTR` of the ClusterIP → the Service name.
- headless (`clusterIP: None`): one `A <svc>…` per ready endpoint address (none: the name does
  not exist, NXDOMAIN); `A <hostname>.<svc>…` per ready address; SRV per named port and
  address → `<hostname>.<svc>…` with the endpoint's port.
- ExternalName: `CNAME <svc>…` → `spec.externalName`.
- every Service with endpoints (as CoreDNS does): `A <hostname>.<svc>…` and the `PTR` of each
  ready address → that name. `<hostname>` is the address's `hostname` (set from a pod's
  `hostname`/`subdomain`), else its IP with dashes (`10-244-1-5`), CoreDNS's identifier.

Pod names (`a-b-c-d.<ns>.pod.<zone>` → a.b.c.d) are answered from the name alone
(`parse_pod_name`), like CoreDNS's `pods insecure`, the mode kubeadm configures.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

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


def service_records(
    service: Mapping[str, Any], endpoints: Mapping[str, Any] | None, zone: str
) -> list[Record]:
    """Every record `service` (with its Endpoints, if any) owns, without duplicates."""
    spec = service.get("spec") or {}
    name, namespace = name_of(service), namespace_of(service)
    fqdn = service_name(name, namespace, zone)
    out: dict[Record, None] = {}  # ordered set

    def add(record: Record) -> None:
        out[record] = None

    if spec.get("type") == "ExternalName":
        target = str(spec.get("externalName") or "").rstrip(".").lower()
        if target:
            add(Record(fqdn, CNAME, (target,)))
        return list(out)
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    ports = [p for p in spec.get("ports") or [] if p.get("name")]
    if not headless and isinstance(cluster_ip, str) and is_ipv4(cluster_ip):
        add(Record(fqdn, A, (cluster_ip,)))
        add(Record(reverse_name(cluster_ip), PTR, (fqdn,)))
        for port in ports:
            srv = _srv_name(port.get("name"), port.get("protocol"), fqdn)
            add(Record(srv, SRV, (0, 100, int(port.get("port") or 0), fqdn)))
        if (namespace, name) == DNS_SERVICE:
            add(Record(f"ns.dns.{zone}", A, (cluster_ip,)))
    elif not headless:
        return []  # no address allocated yet (or not IPv4): nothing to answer
    addresses = ready_addresses(service, endpoints)
    srv_targets: dict[str, list[tuple[int, str]]] = {}
    for address, subset_ports in addresses:
        ip = address["ip"]
        host = f"{endpoint_hostname(address)}.{fqdn}"
        if headless:
            add(Record(fqdn, A, (ip,)))
            for port in subset_ports:
                if port.get("name"):
                    srv = _srv_name(port.get("name"), port.get("protocol"), fqdn)
                    srv_targets.setdefault(srv, []).append((int(port.get("port") or 0), host))
        add(Record(host, A, (ip,)))
        add(Record(reverse_name(ip), PTR, (host,)))
    for srv, targets in srv_targets.items():
        weight = max(1, 100 // len(set(targets)))
        for port_number, host in targets:
            add(Record(srv, SRV, (0, weight, port_number, host)))
    return list(out)


def ready_addresses(
    service: Mapping[str, Any], endpoints: Mapping[str, Any] | None
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(address, its subset's ports) for each ready IPv4 endpoint address."""
    if not endpoints:
        return []
    tolerate = annotations_of(service).get(TOLERATE_UNREADY) == "true"
    result: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for subset in endpoints.get("subsets") or []:
        ports = subset.get("ports") or []
        lists: Iterable[Any] = [subset.get("addresses") or []]
        if tolerate:
            lists = [*lists, subset.get("notReadyAddresses") or []]
        for entries in lists:
            result.extend((a, ports) for a in entries if is_ipv4(a.get("ip")))
    return result


def endpoint_hostname(address: Mapping[str, Any]) -> str:
    hostname = address.get("hostname")
    return str(hostname).lower() if hostname else dashed(str(address["ip"]))


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
    """The fields of a Service the records use, and the metadata the informer needs."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    small_meta = {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta}
    annotations = meta.get("annotations") or {}
    if TOLERATE_UNREADY in annotations:
        small_meta["annotations"] = {TOLERATE_UNREADY: annotations[TOLERATE_UNREADY]}
    small_spec = {k: spec[k] for k in ("type", "clusterIP", "externalName") if k in spec}
    small_spec["ports"] = [
        {k: p[k] for k in ("name", "port", "protocol") if k in p} for p in spec.get("ports") or []
    ]
    return {"metadata": small_meta, "spec": small_spec}


def compact_endpoints(obj: dict[str, Any]) -> dict[str, Any]:
    """The addresses (IP, hostname) and ports of an Endpoints, and its informer metadata."""
    meta = obj.get("metadata") or {}
    subsets = []
    for subset in obj.get("subsets") or []:
        small: dict[str, Any] = {}
        for field in ("addresses", "notReadyAddresses"):
            entries = subset.get(field)
            if entries:
                small[field] = [{k: a[k] for k in ("ip", "hostname") if a.get(k)} for a in entries]
        small["ports"] = [
            {k: p[k] for k in ("name", "port", "protocol") if k in p}
            for p in subset.get("ports") or []
        ]
        subsets.append(small)
    return {
        "metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta},
        "subsets": subsets,
    }
