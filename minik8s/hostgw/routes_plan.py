"""What the host-gw agent's routing table should hold (pure): one route per other node,
`<its spec.podCIDR> via <its InternalIP>`, and the changes that take the table there."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from minik8s.api.meta import Object, name_of

ROUTE_PROTO = "77"
"""The `proto` of the agent's routes (`ip route show proto 77`): it changes only these."""


def internal_ip(node: Object) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


def desired_routes(nodes: list[Object], self_name: str) -> dict[str, str]:
    """`{pod CIDR: gateway}` for every other node with an IPv4 podCIDR and IPv4 InternalIP
    (a loopback address is no gateway: such a node is on this machine or misconfigured)."""
    routes: dict[str, str] = {}
    for node in nodes:
        if name_of(node) == self_name:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        gateway = internal_ip(node)
        if not cidr or not gateway:
            continue
        try:
            network = ipaddress.ip_network(cidr)
            address = ipaddress.ip_address(gateway)
        except ValueError:
            continue
        if network.version == 4 and address.version == 4 and not address.is_loopback:
            routes[str(network)] = str(address)
    return routes


def parse_routes(text: str) -> dict[str, str]:
    """`ip -4 route show proto 77` output -> `{cidr: gateway}` (routes without `via` skipped)."""
    result = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            result[words[0]] = words[2]
    return result


@dataclass(frozen=True)
class RouteChanges:
    replace: dict[str, str]
    """`{cidr: gateway}` to add or point elsewhere (`ip route replace`)."""
    delete: list[str]
    """CIDRs of our routes that no node wants any more."""


def route_changes(current: dict[str, str], wanted: dict[str, str]) -> RouteChanges:
    return RouteChanges(
        replace={c: gw for c, gw in sorted(wanted.items()) if current.get(c) != gw},
        delete=sorted(current.keys() - wanted.keys()),
    )
