"""Host-gw pod routing for the docker-compose cluster (flannel's host-gw backend, small).

Runs on each node container beside the kubelet: it watches the Node objects and keeps one
route per other node, `<its spec.podCIDR> via <its InternalIP>`, so a pod reaches a pod on
another node by IP across the compose network. Its routes carry the protocol number
`ROUTE_PROTO` so it removes exactly the ones it added (and no others) when a node goes.

    python hostgw.py --kubeconfig FILE --node-name NAME

`desired_routes` is pure (unit-tested); `sync` runs `ip route`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import subprocess
from typing import Any

logger = logging.getLogger("hostgw")

ROUTE_PROTO = "77"
"""The `proto` of our routes in the kernel's table: what `ip route show proto 77` lists."""


def internal_ip(node: dict[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


def desired_routes(nodes: list[dict[str, Any]], self_name: str) -> dict[str, str]:
    """`{pod CIDR: gateway}` for every other node with a podCIDR and an IPv4 InternalIP."""
    routes: dict[str, str] = {}
    for node in nodes:
        if node["metadata"]["name"] == self_name:
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
    """`ip -4 route show proto 77` output -> `{cidr: gateway}`."""
    result = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            result[words[0]] = words[2]
    return result


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def sync(wanted: dict[str, str]) -> None:
    current = parse_routes(_ip("-4", "route", "show", "proto", ROUTE_PROTO))
    for cidr, gateway in wanted.items():
        if current.get(cidr) != gateway:
            _ip("route", "replace", cidr, "via", gateway, "proto", ROUTE_PROTO)
            logger.info("route %s via %s", cidr, gateway)
    for cidr in current.keys() - wanted.keys():
        _ip("route", "del", cidr, "proto", ROUTE_PROTO)
        logger.info("route %s removed", cidr)


async def run(kubeconfig: str, node_name: str, stop: asyncio.Event) -> None:
    from minik8s.api.resources import NODES
    from minik8s.client.api import ApiClient
    from minik8s.client.informer import Informer
    from minik8s.client.kubeconfig import load_kubeconfig

    changed = asyncio.Event()
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        informer = Informer(client, NODES, name="hostgw-nodes")
        informer.add_event_handler(
            lambda obj: changed.set(), lambda old, new: changed.set(), lambda obj: changed.set()
        )
        informer.start()
        try:
            while not await informer.wait_synced(60):
                logger.warning("the node informer did not sync within 60s; still waiting")
            while not stop.is_set():
                changed.clear()
                wanted = desired_routes(informer.store.list(), node_name)
                try:
                    await asyncio.to_thread(sync, wanted)
                except RuntimeError as e:
                    logger.warning("syncing routes failed: %s", e)
                # Wake on a change, and every 30 s to repair routes removed by hand.
                waits = [asyncio.ensure_future(changed.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
        finally:
            await informer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="hostgw", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", required=True)
    args = parser.parse_args()
    from minik8s.componentbase import runner

    async def main_(stop: asyncio.Event) -> None:
        await run(args.kubeconfig, args.node_name, stop)

    runner.run(main_, "hostgw")


if __name__ == "__main__":
    main()
