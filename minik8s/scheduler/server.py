"""The scheduler process (Kubernetes' `cmd/kube-scheduler/app/server.go`): client, informers,
health server, Event recorder, leader election. `main` is the `minik8s-scheduler` command."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket

from minik8s.client import tasks
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.componentbase import options, runner
from minik8s.componentbase.events import EventRecorder
from minik8s.componentbase.health import HealthServer
from minik8s.scheduler import config
from minik8s.scheduler.config import SchedulerSettings
from minik8s.scheduler.scheduler import Scheduler

logger = logging.getLogger(__name__)

COMPONENT = "default-scheduler"


async def run(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    """Run the scheduler until `stop` is set."""
    # Bindings and their `Scheduled` Events are two requests per pod, up to
    # `max_binds_in_flight` at once: the pool holds that many connections.
    client_settings = ClientSettings(
        user_agent="minik8s-scheduler/0.1",
        max_connections=max(ClientSettings.max_connections, settings.max_binds_in_flight),
    )
    config = options.load_client_config(settings.client)
    async with ApiClient(config, client_settings) as client:
        recorder = EventRecorder(client, COMPONENT, host=socket.gethostname())
        scheduler = Scheduler(client, settings, recorder)
        health: HealthServer | None = None
        if settings.healthz.port >= 0:
            health = HealthServer(
                settings.healthz.bind_address, settings.healthz.port,
                liveness={"ping": lambda: True},
                readiness={"informers-synced": lambda: scheduler.synced},
            )  # fmt: skip
            await health.start()
        recorder.start()
        scheduler.start_informers()
        work = tasks.spawn(_schedule(client, scheduler, settings), "scheduler")
        stopping = tasks.spawn(stop.wait(), "scheduler stop signal")
        try:
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await tasks.cancel_and_wait([work, stopping])
            await scheduler.stop()
            await recorder.stop()
            if health is not None:
                await health.stop()


async def _schedule(client: ApiClient, scheduler: Scheduler, settings: SchedulerSettings) -> None:
    """Schedule while leading: campaign again whenever leadership is lost."""
    if not settings.leader_election.leader_elect:
        await scheduler.run()
        return
    async with options.leader_election_client(client) as lease_client:
        elector = options.new_leader_elector(settings.leader_election, lease_client)
        logger.info("campaigning for lease %s as %s", elector.lease_key, elector.identity)
        while True:
            await elector.run(scheduler.run)
            logger.warning("lost the lease %s; campaigning again", elector.lease_key)


def main(argv: list[str] | None = None) -> None:
    """`minik8s-scheduler`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "minik8s-scheduler", settings.log_level)


if __name__ == "__main__":
    main()
