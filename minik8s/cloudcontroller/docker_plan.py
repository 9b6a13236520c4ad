"""The docker provider's decisions over Docker's inspect data (pure).

Which container is a node's instance, its address on the compose network, the host bridge of
that network, and the host route that sends a load balancer address to its nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from minik8s.api import meta
from minik8s.api.meta import Object

ROLE_LABEL = "minik8s.role"
"""Compose labels node containers `minik8s.role=node`."""
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
NETWORK_LABEL = "com.docker.compose.network"
PROVIDER_ID_PREFIX = "docker://"
ROUTE_PROTO = "78"
"""The `proto` of our load balancer routes on the host (hostgw's pod routes use 77)."""

Info = Mapping[str, Any]
"""`docker inspect` of a container or network."""


def _env(info: Info) -> dict[str, str]:
    pairs = ((info.get("Config") or {}).get("Env")) or []
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def node_name_of(info: Info) -> str:
    """The Node name a node container registers: its NODE_NAME, else `<service>-<number>` for
    a scaled service (what deploy/compose/nodename.py derives), else its hostname."""
    name = _env(info).get("NODE_NAME")
    if name:
        return name
    labels = (info.get("Config") or {}).get("Labels") or {}
    hostname = str((info.get("Config") or {}).get("Hostname") or "")
    service, number = labels.get(SERVICE_LABEL), labels.get(NUMBER_LABEL)
    if service and number and str(info.get("Id") or "").startswith(hostname):
        return f"{service}-{number}"
    return hostname


def find_node_container(containers: Iterable[Info], node: Object) -> Info | None:
    """The node's container: by provider ID, else by name."""
    provider_id = (node.get("spec") or {}).get("providerID") or ""
    name = meta.name_of(node)
    for info in containers:
        if provider_id.startswith(PROVIDER_ID_PREFIX):
            if str(info.get("Id") or "") == provider_id[len(PROVIDER_ID_PREFIX) :]:
                return info
        elif node_name_of(info) == name:
            return info
    return None


def container_ip(info: Info, network: str) -> str | None:
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    entry = networks.get(network) or {}
    return str(entry.get("IPAddress")) if entry.get("IPAddress") else None


def shut_down(info: Info) -> bool:
    """Stopped (exited, created, dead): the machine is there, not running."""
    state = info.get("State") or {}
    return not state.get("Running") and state.get("Status") not in ("paused", "restarting")


def bridge_of(network: Info) -> str:
    """The host interface of a bridge network: its explicit name, else `br-<id[:12]>`."""
    options = network.get("Options") or {}
    return str(options.get("com.docker.network.bridge.name") or f"br-{network['Id'][:12]}")


_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")
_CGROUP_ID = re.compile(r"[/-]([0-9a-f]{64})")


def own_container_id(mountinfo: str, cgroup: str = "") -> str | None:
    """This process's container, from the bind mounts Docker makes for every container
    (`/var/lib/docker/containers/<id>/hostname`, also with `network_mode: host`), else its
    cgroup."""
    found = _CONTAINER_ID.search(mountinfo) or _CGROUP_ID.search(cgroup)
    return found.group(1) if found else None


def internal_ip(node: Object) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


def route_args(address: str, bridge: str, gateways: list[str]) -> list[str]:
    """`ip` arguments sending `address` to its nodes (several: one multipath route, each flow
    to one of them); without any, the /32 goes and the pool's route to the bridge drops it."""
    if not gateways:
        return ["route", "del", f"{address}/32", "proto", ROUTE_PROTO]
    head = ["route", "replace", f"{address}/32", "proto", ROUTE_PROTO]
    if len(gateways) == 1:
        return [*head, "via", gateways[0], "dev", bridge]
    hops = [word for gateway in sorted(gateways)
             for word in ("nexthop", "via", gateway, "dev", bridge)]  # fmt: skip
    return [*head, *hops]
