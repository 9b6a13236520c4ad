"""The `kubernetes` Service's endpoints from the apiservers' identity Leases (pure).

Each apiserver holds a Lease `kube-system/apiserver-<hash>` (Kubernetes' APIServerIdentity:
labels `apiserver.kubernetes.io/identity=kube-apiserver` and `kubernetes.io/hostname`), renewed
every few seconds and annotated with the address and port it serves on. Those whose Lease has
not expired are the Service's endpoints; expired Leases are deleted.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from minik8s.api import endpointslices, meta, times
from minik8s.api.meta import Object

NAMESPACE = "kube-system"
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
IDENTITY = "kube-apiserver"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ENDPOINT_ANNOTATION = "minik8s.io/advertise-endpoint"
"""`<ip>:<port>` an apiserver serves on (Kubernetes keeps the address in its raw master
lease keys; minik8s puts it on the identity Lease)."""
PORT_NAME = "https"


def lease_name(hostname: str, port: int) -> str:
    """Kubernetes' `apiserver-<base32 of sha256(hostname)[:16]>`; minik8s hashes the port too
    (several apiservers may share a host)."""
    digest = hashlib.sha256(f"{hostname}:{port}".encode()).digest()[:16]
    return "apiserver-" + base64.b32encode(digest).decode().rstrip("=").lower()


def holder_identity(name: str) -> str:
    """`kube-apiserver-<hash>_<uuid>`: new at every start."""
    return f"kube-{name}_{uuid.uuid4()}"


def identity_lease(
    name: str, holder: str, hostname: str, endpoint: str, duration: int, now: datetime
) -> Object:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {IDENTITY_LABEL: IDENTITY, HOSTNAME_LABEL: hostname},
            "annotations": {ENDPOINT_ANNOTATION: endpoint},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "renewTime": times.format_micro_time(now),
        },
    }


def is_identity_lease(lease: Object) -> bool:
    return meta.labels_of(lease).get(IDENTITY_LABEL) == IDENTITY


def expires_at(lease: Object) -> datetime | None:
    spec = lease.get("spec") or {}
    renewed = times.parse_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    if renewed is None or not isinstance(duration, int):
        return None
    return renewed + timedelta(seconds=duration)


def live_endpoints(leases: Iterable[Object], now: datetime) -> list[tuple[str, int]]:
    """(ip, port) of every apiserver whose identity Lease has not expired, sorted."""
    found = set()
    for lease in leases:
        if not is_identity_lease(lease):
            continue
        until = expires_at(lease)
        endpoint = meta.annotations_of(lease).get(ENDPOINT_ANNOTATION, "")
        ip, _, port = endpoint.rpartition(":")
        if until is None or until <= now or not port.isdigit() or special_ip(ip):
            continue
        found.add((ip, int(port)))
    return sorted(found)


def special_ip(ip: str) -> bool:
    """Not an address Endpoints may hold (invalid, unspecified, loopback, link-local)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return True
    return address.is_unspecified or address.is_loopback or address.is_link_local


def expired(leases: Iterable[Object], now: datetime) -> list[Object]:
    """Identity Leases past their expiry by another full duration: to delete (Kubernetes'
    apiserver lease garbage collector)."""
    out = []
    for lease in leases:
        until = expires_at(lease)
        duration = (lease.get("spec") or {}).get("leaseDurationSeconds") or 0
        if (
            is_identity_lease(lease)
            and until is not None
            and until + timedelta(seconds=duration) < now
        ):
            out.append(lease)
    return out


def subsets(endpoints: list[tuple[str, int]]) -> list[Object]:
    """Endpoints subsets: one per port, its addresses sorted (apiservers sharing an address
    on one host differ by port)."""
    by_port: dict[int, list[str]] = {}
    for ip, port in endpoints:
        by_port.setdefault(port, []).append(ip)
    return [
        {
            "addresses": [{"ip": ip} for ip in sorted(ips)],
            "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        }
        for port, ips in sorted(by_port.items())
    ]


def endpoint_slice(name: str, namespace: str, subsets: list[Object]) -> Object:
    """The EndpointSlice of the `kubernetes` Service, as Kubernetes' endpoints adapter makes
    it from the Endpoints: named like them, labelled with the Service's name, IPv4, the first
    subset's ports, and its addresses as ready endpoints (not-ready ones as not ready)."""
    first = subsets[0] if subsets else {}
    endpoints = [
        {"addresses": [address["ip"]], "conditions": {"ready": ready}}
        for field, ready in (("addresses", True), ("notReadyAddresses", False))
        for address in first.get(field) or []
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {endpointslices.SERVICE_NAME_LABEL: name},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [
            {"name": p.get("name", ""), "port": p["port"], "protocol": p.get("protocol", "TCP")}
            for p in first.get("ports") or []
        ],
    }
