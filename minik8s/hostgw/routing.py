"""The agent's only contact with the kernel: `ip route` on the routes of its own `proto`."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from minik8s.hostgw import routes_plan
from minik8s.hostgw.routes_plan import ROUTE_PROTO

logger = logging.getLogger(__name__)

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class RouteError(RuntimeError):
    pass


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RouteError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def current_routes() -> dict[str, str]:
    return routes_plan.parse_routes(_ip("-4", "route", "show", "proto", ROUTE_PROTO))


def sync(wanted: dict[str, str]) -> list[str]:
    """Make our routes `wanted`; each route on its own (one unreachable gateway does not stop
    the others). Returns the errors."""
    changes = routes_plan.route_changes(current_routes(), wanted)
    failed = []
    for cidr, gateway in changes.replace.items():
        try:
            _ip("route", "replace", cidr, "via", gateway, "proto", ROUTE_PROTO)
            logger.info("route %s via %s", cidr, gateway)
        except RouteError as e:
            failed.append(str(e))
    for cidr in changes.delete:
        try:
            _ip("route", "del", cidr, "proto", ROUTE_PROTO)
            logger.info("route %s removed", cidr)
        except RouteError as e:
            failed.append(str(e))
    return failed


def forwarding_enabled() -> bool:
    try:
        return IP_FORWARD.read_text().strip() == "1"
    except OSError:
        return False
