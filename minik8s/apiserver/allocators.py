"""ClusterIP and NodePort allocation (pure: the registry passes in what is in use).

What is in use comes from the Services in the watch cache plus what etcd refused in an earlier
round (`taken_ips`, `taken_ports`): a hint only. The Service's etcd transaction, which
creates one key per address (`serviceallocation`), is what makes an address its own.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Collection, Iterable

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.serviceutil import needs_health_check


class RangeFull(Exception):
    pass


def used_cluster_ips(services: Iterable[Object]) -> set[str]:
    used: set[str] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        for ip in [spec.get("clusterIP"), *(spec.get("clusterIPs") or [])]:
            if ip and ip != "None":
                used.add(ip)
    return used


def used_node_ports(services: Iterable[Object]) -> set[int]:
    """Node ports and health check node ports: they come from the same range."""
    used: set[int] = set()
    for svc in services:
        spec = svc.get("spec") or {}
        used.update(int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort"))
        if spec.get("healthCheckNodePort"):
            used.add(int(spec["healthCheckNodePort"]))
    return used


def static_band(size: int) -> int:
    """How many addresses at the bottom of a range of `size` are kept for ClusterIPs asked for
    by value (Kubernetes' `calculateRangeOffset`, KEP-3070): min(max(16, size/16), 256), none
    for ranges under 16. Dynamic allocations take them only once the rest is full, so the
    fixed ClusterIPs of the cluster (10.96.0.10 for kube-dns) are free when asked for."""
    if size < 16:
        return 0
    return min(max(16, size // 16), 256)


def allocate_cluster_ip(cidr: str, used: set[str], rng: random.Random | None = None) -> str:
    """A free address of `cidr`, skipping the network, broadcast and first (`.1`, the
    `kubernetes` Service's) addresses; above the static band first."""
    network = ipaddress.ip_network(cidr)
    first = int(network.network_address) + 2
    last = int(network.broadcast_address) - 1
    size = last - first + 1
    if size <= 0:
        raise RangeFull(cidr)
    rng = rng or random.Random()
    band = min(max(0, static_band(network.num_addresses) - 2), size - 1)
    for low, count in ((first + band, size - band), (first, band)):
        if count <= 0:
            continue
        start = rng.randrange(count)
        for offset in range(count):
            candidate = str(ipaddress.ip_address(low + (start + offset) % count))
            if candidate not in used:
                return candidate
    raise RangeFull(cidr)


def allocate_node_port(
    low: int, high: int, used: set[int], rng: random.Random | None = None
) -> int:
    size = high - low + 1
    rng = rng or random.Random()
    start = rng.randrange(size)
    for offset in range(size):
        candidate = low + (start + offset) % size
        if candidate not in used:
            return candidate
    raise RangeFull(f"{low}-{high}")


def assign_service_addresses(
    svc: Object,
    others: list[Object],
    cidr: str,
    node_port_range: tuple[int, int],
    old: Object | None = None,
    taken_ips: Collection[str] = (),
    taken_ports: Collection[int] = (),
) -> None:
    """Fill spec.clusterIP(s) and nodePorts of `svc` in place; 422 for taken or bad requests.

    `others` are the other Services; `taken_ips`/`taken_ports` addresses etcd said are held."""
    spec = svc.setdefault("spec", {})
    causes: list[errors.Cause] = []
    service_type = spec.get("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    if service_type == "ExternalName":
        spec.pop("clusterIPs", None)
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
        return  # a DNS name only: no address, no node port

    requested_ip = spec.get("clusterIP") or ""
    if old_spec.get("clusterIP") and requested_ip in ("", old_spec["clusterIP"]):
        spec["clusterIP"] = old_spec["clusterIP"]
    elif requested_ip == "None":
        pass
    elif requested_ip:
        try:
            inside = ipaddress.ip_address(requested_ip) in ipaddress.ip_network(cidr)
        except ValueError:
            inside = False
        if not inside:
            causes.append(
                errors.invalid(
                    "spec.clusterIPs",
                    [requested_ip],
                    f"failed to allocate IP {requested_ip}: the provided IP ({requested_ip}) "
                    f"is not in the valid range. The range of valid IPs is {cidr}",
                )
            )
        elif requested_ip in used_cluster_ips(others) or requested_ip in taken_ips:
            causes.append(
                errors.invalid(
                    "spec.clusterIPs",
                    [requested_ip],
                    f"failed to allocate IP {requested_ip}: provided IP is already allocated",
                )
            )
    else:
        try:
            spec["clusterIP"] = allocate_cluster_ip(cidr, used_cluster_ips(others) | set(taken_ips))
        except RangeFull as e:
            raise errors.InternalError(
                f"failed to allocate a serviceIP: range is full ({cidr})"
            ) from e
    if spec.get("clusterIP"):
        spec["clusterIPs"] = [spec["clusterIP"]]

    taken = used_node_ports(others) | set(taken_ports)
    low, high = node_port_range
    if service_type in ("NodePort", "LoadBalancer"):
        old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []}
        # allocateLoadBalancerNodePorts: false leaves out the node ports nobody asked for
        allocate = service_type == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True)
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort")
            if not wanted and old_ports.get(port.get("port")):
                port["nodePort"] = old_ports[port.get("port")]
            elif not wanted and not allocate:
                continue
            elif not wanted:
                try:
                    port["nodePort"] = allocate_node_port(low, high, taken)
                except RangeFull as e:
                    raise errors.InternalError(
                        "failed to allocate a nodePort: range is full"
                    ) from e
            elif not low <= int(wanted) <= high:
                causes.append(
                    errors.invalid(
                        f"spec.ports[{i}].nodePort",
                        wanted,
                        f"provided port is not in the valid range. The range of valid ports is "
                        f"{low}-{high}",
                    )
                )
            elif int(wanted) in taken:
                causes.append(
                    errors.invalid(
                        f"spec.ports[{i}].nodePort", wanted, "provided port is already allocated"
                    )
                )
            if port.get("nodePort"):
                taken.add(int(port["nodePort"]))
    else:
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    causes += _assign_health_check_node_port(spec, old_spec, taken, low, high)
    if causes:
        raise errors.invalid_object("Service", svc.get("metadata", {}).get("name", ""), causes)


def _assign_health_check_node_port(
    spec: Object, old_spec: Object, taken: set[int], low: int, high: int
) -> list[errors.Cause]:
    """`healthCheckNodePort` of a LoadBalancer with `externalTrafficPolicy: Local`: kept once
    allocated, else the requested one if free, else a free one of the node port range."""
    if not needs_health_check(spec):
        spec.pop("healthCheckNodePort", None)
        return []
    wanted = spec.get("healthCheckNodePort")
    kept = old_spec.get("healthCheckNodePort") if needs_health_check(old_spec) else 0
    if kept and wanted and wanted != kept:
        return [errors.invalid("spec.healthCheckNodePort", wanted, "field is immutable")]
    if kept:
        spec["healthCheckNodePort"] = kept
        return []
    if not wanted:
        try:
            spec["healthCheckNodePort"] = allocate_node_port(low, high, taken)
        except RangeFull as e:
            raise errors.InternalError("failed to allocate a nodePort: range is full") from e
        return []
    if not low <= int(wanted) <= high:
        message = (
            f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
        )
    elif int(wanted) in taken:
        message = "provided port is already allocated"
    else:
        return []
    return [errors.invalid("spec.healthCheckNodePort", wanted, message)]
