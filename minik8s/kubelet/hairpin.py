"""Hairpin mode on the pod bridge's ports, so a pod can reach itself through its own Service.

A pod's packet to a Service IP is DNATed back to the pod's own IP; with bridge netfilter on
(Docker turns it on), the bridge then has to send the frame out of the port it came in on,
which a Linux bridge refuses unless that port is in hairpin mode. Kubernetes' kubelet does
the same (`--hairpin-mode=hairpin-veth`). Docker sets it only when dockerd runs with
`--userland-proxy=false`, which we cannot count on.

`ip` (netlink) rather than sysfs: inside a docker-compose node, /sys is read-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

logger = logging.getLogger(__name__)


def ports_without_hairpin(links: list[dict[str, Any]]) -> list[str]:
    """Bridge ports in `ip -j -d link show master <bridge>` output whose hairpin mode is off."""
    return [
        link["ifname"]
        for link in links
        if (link.get("linkinfo") or {}).get("info_slave_kind") == "bridge"
        and not link["linkinfo"].get("info_slave_data", {}).get("hairpin", False)
    ]


async def _ip(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode().strip()


class HairpinSetter:
    """Turns hairpin mode on for every port of one bridge; warns once when it cannot."""

    def __init__(self, bridge: str) -> None:
        self.bridge = bridge
        self._warned = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        async with self._lock:  # pods starting together would all set the same new ports
            try:
                await self._ensure()
            except (OSError, ValueError, RuntimeError) as e:
                if not self._warned:
                    self._warned = True
                    logger.warning(
                        "cannot set hairpin mode on bridge %s (a pod will not reach itself "
                        "through its Service): %s",
                        self.bridge,
                        e,
                    )

    async def _ensure(self) -> None:
        rc, out, err = await _ip("-j", "-d", "link", "show", "master", self.bridge)
        if rc != 0:
            raise RuntimeError(err or f"ip link show master {self.bridge}: exit {rc}")
        for port in ports_without_hairpin(json.loads(out or "[]")):
            rc, _, err = await _ip(
                "link", "set", "dev", port, "type", "bridge_slave", "hairpin", "on"
            )
            if rc != 0 and "Cannot find device" not in err:  # a pod that just went away
                raise RuntimeError(err or f"ip link set {port} hairpin on: exit {rc}")
