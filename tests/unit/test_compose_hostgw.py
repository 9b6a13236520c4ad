"""The compose nodes' host-gw route plan and worker names (deploy/compose/, loaded by path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, COMPOSE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hostgw() -> ModuleType:
    return load("hostgw")


@pytest.fixture(scope="module")
def nodename() -> ModuleType:
    return load("nodename")


def node(name: str, cidr: str | None, ip: str | None) -> dict:
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.insert(0, {"type": "InternalIP", "address": ip})
    return {
        "metadata": {"name": name},
        "spec": {"podCIDR": cidr} if cidr else {},
        "status": {"addresses": addresses},
    }


def test_routes_to_every_other_node(hostgw: ModuleType) -> None:
    nodes = [
        node("node-1", "10.244.0.0/24", "172.20.0.3"),
        node("node-2", "10.244.1.0/24", "172.20.0.4"),
        node("node-3", "10.244.2.0/24", "172.20.0.5"),
    ]
    assert hostgw.desired_routes(nodes, "node-1") == {
        "10.244.1.0/24": "172.20.0.4",
        "10.244.2.0/24": "172.20.0.5",
    }


def test_nodes_without_cidr_ip_or_with_loopback_or_ipv6_are_skipped(hostgw: ModuleType) -> None:
    nodes = [
        node("no-cidr", None, "172.20.0.3"),
        node("no-ip", "10.244.1.0/24", None),
        node("loopback", "10.244.2.0/24", "127.0.0.1"),
        node("v6", "fd00::/64", "172.20.0.6"),
        node("bad", "nonsense", "172.20.0.7"),
    ]
    assert hostgw.desired_routes(nodes, "node-1") == {}


def test_parse_routes(hostgw: ModuleType) -> None:
    text = (
        "10.244.1.0/24 via 172.20.0.4 dev eth0 proto 77 \n"
        "10.244.2.0/24 via 172.20.0.5 dev eth0 proto 77 \n"
        "blackhole 10.9.0.0/24 proto 77\n"
    )
    assert hostgw.parse_routes(text) == {
        "10.244.1.0/24": "172.20.0.4",
        "10.244.2.0/24": "172.20.0.5",
    }


def test_worker_names_from_container_names(nodename: ModuleType) -> None:
    assert nodename.node_name("deploy_worker_3.deploy_default", "worker") == "worker-3"
    assert nodename.node_name("my-project-worker-12", "worker") == "worker-12"
    assert nodename.node_name("deploy_node-1_1", "worker") is None


def test_dns_names_with_compression(nodename: ModuleType) -> None:
    message = b"\0" * 12 + nodename.encode_name("a.example") + b"\x03www\xc0\x0c"
    assert nodename.read_name(message, 12) == "a.example"
    assert nodename.read_name(message, 12 + 11) == "www.a.example"
