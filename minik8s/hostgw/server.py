"""The host-gw agent's process (flannel's `flanneld` with the `host-gw` backend): a Node
informer and the routes it implies. `main` is the `minik8s-hostgw` command.

Like flannel, it leaves its routes in place when it stops (a restart does not cut pod
traffic; a Node deleted meanwhile loses its route at the next start, which removes every route
of its `proto` that no Node wants); `--cleanup` removes them all.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from minik8s.api.resources import NODES
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.componentbase import options, runner
from minik8s.componentbase.health import HealthServer
from minik8s.hostgw import config, routes_plan, routing
from minik8s.hostgw.config import HostGwSettings

logger = logging.getLogger(__name__)


class Agent:
    def __init__(self, settings: HostGwSettings, informer: Informer) -> None:
        self.settings = settings
        self.informer = informer
        self.changed = asyncio.Event()
        self.synced = False
        """At least one sync has succeeded (readiness)."""
        self.routes: dict[str, str] = {}
        """The routes of the last sync."""

    def wake(self, *_: object) -> None:
        self.changed.set()

    async def sync(self) -> None:
        wanted = routes_plan.desired_routes(self.informer.store.list(), self.settings.node_name)
        try:
            failed = await asyncio.to_thread(routing.sync, wanted)
        except (routing.RouteError, OSError) as e:
            logger.warning("reading the routes failed: %s", e)
            return
        for error in failed:
            logger.warning("route not synced: %s", error)
        self.routes = wanted
        self.synced = self.synced or not failed

    async def run(self, stop: asyncio.Event) -> None:
        while not await self.informer.wait_synced(60):
            logger.warning("the node informer did not sync within 60s; still waiting")
        if not routing.forwarding_enabled():
            logger.warning("net.ipv4.ip_forward is 0: this node will not forward pod traffic")
        while not stop.is_set():
            self.changed.clear()
            await self.sync()
            waits = [asyncio.ensure_future(self.changed.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waits, timeout=self.settings.resync_period, return_when=asyncio.FIRST_COMPLETED
            )
            for waiting in waits:
                waiting.cancel()


async def run(settings: HostGwSettings, stop: asyncio.Event) -> None:
    if settings.cleanup:
        failed = await asyncio.to_thread(routing.sync, {})
        if failed:
            raise runner.StartupError("; ".join(failed))
        logger.info("cleanup done: no route of proto %s left", routes_plan.ROUTE_PROTO)
        return
    async with ApiClient(options.load_client_config(settings.client)) as client:
        informer = Informer(client, NODES, name="hostgw-nodes")
        agent = Agent(settings, informer)
        informer.add_event_handler(agent.wake, agent.wake, agent.wake)
        health = HealthServer(
            settings.healthz.bind_address, max(settings.healthz.port, 0),
            readiness={"routes": lambda: agent.synced},
        )  # fmt: skip
        if settings.healthz.port >= 0:
            await health.start()
        informer.start()
        try:
            await agent.run(stop)
        finally:
            await informer.stop()
            await health.stop()
            logger.info("stopping; the routes stay (%d): --cleanup removes them", len(agent.routes))


def main(argv: list[str] | None = None) -> None:
    """`minik8s-hostgw`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "hostgw", settings.log_level)


if __name__ == "__main__":
    main()
