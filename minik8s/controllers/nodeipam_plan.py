"""Pod CIDR allocation for nodes (pure): each node gets its own subnet of the cluster CIDR.

Like kube-controller-manager's range allocator: `--cluster-cidr` is cut into subnets of
`--node-cidr-mask-size` bits; a node without `spec.podCIDR` gets the first subnet no other
node holds, and a node's podCIDR never changes once set (the apiserver refuses it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from minik8s.api.meta import Object


class RangeFull(Exception):
    """Every subnet of the cluster CIDR is taken."""


def node_cidrs(node: Object) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or [])
    if spec.get("podCIDR") and spec["podCIDR"] not in cidrs:
        cidrs.insert(0, spec["podCIDR"])
    return cidrs


def subnets(cluster_cidr: str, mask_size: int) -> Iterable[ipaddress.IPv4Network]:
    network = ipaddress.IPv4Network(cluster_cidr, strict=True)
    if not network.prefixlen <= mask_size <= 30:
        raise ValueError(
            f"node CIDR mask size {mask_size} must be between /{network.prefixlen} and /30"
        )
    return network.subnets(new_prefix=mask_size)


def next_free(cluster_cidr: str, mask_size: int, taken: Iterable[str]) -> str:
    """The first subnet of `cluster_cidr` overlapping none of `taken` (raises `RangeFull`)."""
    used = []
    for cidr in taken:
        try:
            used.append(ipaddress.IPv4Network(cidr, strict=False))
        except ValueError:
            continue  # an IPv6 or malformed CIDR someone else set: it cannot overlap ours
    for subnet in subnets(cluster_cidr, mask_size):
        if not any(subnet.overlaps(u) for u in used):
            return str(subnet)
    raise RangeFull(f"no free /{mask_size} left in {cluster_cidr}")


def allocate(cluster_cidr: str, mask_size: int, nodes: Iterable[Object]) -> dict[str, str]:
    """The podCIDR to give each node that has none, by name, in name order."""
    nodes = sorted(nodes, key=lambda n: n["metadata"]["name"])
    taken = [cidr for node in nodes for cidr in node_cidrs(node)]
    result: dict[str, str] = {}
    for node in nodes:
        if node_cidrs(node):
            continue
        cidr = next_free(cluster_cidr, mask_size, taken)
        result[node["metadata"]["name"]] = cidr
        taken.append(cidr)
    return result
