"""Routing an address range to a local interface of ours, so that nothing sent to it leaves the
machine: kube-proxy routes the Service CIDR to its bridge, the cloud controller's local provider
routes the LoadBalancer pool to its own, before either writes a rule or hands out an address.

An address of the range without a rule then goes to a bridge with no port and is dropped there;
one with a rule is rewritten (DNAT) before it gets that far. A range that another interface
already claims (the same range, a part of it, or a network the machine is directly attached to
that contains it) is refused: traffic to it might leave, or we would shadow real neighbours.

`conflicts` is pure; the rest runs `ip` from a thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import shlex
import subprocess
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)


class RouteError(Exception):
    """`ip` failed, or the range is claimed elsewhere; the message says which."""


def conflicts(routes: Iterable[dict[str, Any]], cidr: str, device: str) -> list[str]:
    """Routes of the main table (`ip -j route show`) that another device has for a part of
    `cidr`, or directly connected networks containing it, as readable strings."""
    wanted = ipaddress.IPv4Network(cidr)
    found = []
    for route in routes:
        dst, dev = route.get("dst"), route.get("dev")
        if not dst or dst == "default" or dev == device:
            continue
        try:
            network = ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        inside = network.subnet_of(wanted)
        connected = route.get("scope") == "link" and wanted.subnet_of(network)
        if inside or connected:
            found.append(f"{dst} dev {dev}")
    return found


async def ip(*args: str, check: bool = True) -> str:
    """`ip ARGS` from a thread; its stdout."""
    return await asyncio.to_thread(_ip, args, check)


def _ip(args: tuple[str, ...], check: bool) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RouteError(f"ip {shlex.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


async def link_exists(device: str) -> bool:
    try:
        await ip("link", "show", "dev", device)
    except RouteError:
        return False
    return True


async def ensure_route(cidr: str, device: str, *, create_bridge: bool = True) -> bool:
    """Route `cidr` to `device` (a bridge created and brought up first if `create_bridge`, else
    an existing interface). True if the route was added now. Raises `RouteError` when the
    range is claimed elsewhere: nothing may be handed out or programmed then."""
    if not await link_exists(device):
        if not create_bridge:
            raise RouteError(f"interface {device} does not exist")
        await ip("link", "add", device, "type", "bridge")
        logger.info("created bridge %s", device)
    if create_bridge:
        await ip("link", "set", "dev", device, "up")
    routes = json.loads(await ip("-j", "route", "show") or "[]")
    others = conflicts(routes, cidr, device)
    if others:
        raise RouteError(
            f"{cidr} is already routed elsewhere ({'; '.join(others)}): refusing to use "
            "addresses that could leave the machine"
        )
    exact = json.loads(await ip("-j", "route", "show", "exact", cidr) or "[]")
    if any(route.get("dev") == device for route in exact):
        return False
    await ip("route", "add", cidr, "dev", device)
    logger.info("routed %s to %s", cidr, device)
    return True


async def delete_bridge(device: str) -> bool:
    """Delete our bridge (its routes go with it); False if it did not exist."""
    if not await link_exists(device):
        return False
    await ip("link", "del", "dev", device)
    logger.info("deleted bridge %s and its routes", device)
    return True
