"""The host-gw agent's route plan (moved from deploy/compose/hostgw.py's tests)."""

from __future__ import annotations

from minik8s.hostgw import routes_plan
from minik8s.hostgw.routes_plan import RouteChanges


def node(name: str, cidr: str | None, ip: str | None) -> dict:
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.insert(0, {"type": "InternalIP", "address": ip})
    return {
        "metadata": {"name": name},
        "spec": {"podCIDR": cidr} if cidr else {},
        "status": {"addresses": addresses},
    }


def test_routes_to_every_other_node() -> None:
    nodes = [
        node("node-1", "10.244.0.0/24", "172.20.0.3"),
        node("node-2", "10.244.1.0/24", "172.20.0.4"),
        node("node-3", "10.244.2.0/24", "172.20.0.5"),
    ]
    assert routes_plan.desired_routes(nodes, "node-1") == {
        "10.244.1.0/24": "172.20.0.4",
        "10.244.2.0/24": "172.20.0.5",
    }


def test_nodes_without_cidr_ip_or_with_loopback_or_ipv6_are_skipped() -> None:
    nodes = [
        node("no-cidr", None, "172.20.0.3"),
        node("no-ip", "10.244.1.0/24", None),
        node("loopback", "10.244.2.0/24", "127.0.0.1"),
        node("v6", "fd00::/64", "172.20.0.6"),
        node("bad", "nonsense", "172.20.0.7"),
    ]
    assert routes_plan.desired_routes(nodes, "node-1") == {}


def test_parse_routes() -> None:
    text = (
        "10.244.1.0/24 via 172.20.0.4 dev eth0 proto 77 \n"
        "10.244.2.0/24 via 172.20.0.5 dev eth0 proto 77 \n"
        "blackhole 10.9.0.0/24 proto 77\n"
    )
    assert routes_plan.parse_routes(text) == {
        "10.244.1.0/24": "172.20.0.4",
        "10.244.2.0/24": "172.20.0.5",
    }


def test_changes_add_move_and_remove_only_what_differs() -> None:
    current = {"10.244.1.0/24": "172.20.0.4", "10.244.2.0/24": "172.20.0.5",
               "10.244.9.0/24": "172.20.0.9"}  # fmt: skip
    wanted = {"10.244.1.0/24": "172.20.0.4", "10.244.2.0/24": "172.20.0.7",
              "10.244.3.0/24": "172.20.0.8"}  # fmt: skip
    assert routes_plan.route_changes(current, wanted) == RouteChanges(
        replace={"10.244.2.0/24": "172.20.0.7", "10.244.3.0/24": "172.20.0.8"},
        delete=["10.244.9.0/24"],
    )
    assert routes_plan.route_changes(wanted, wanted) == RouteChanges(replace={}, delete=[])
