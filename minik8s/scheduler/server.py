"""The scheduler process (Kubernetes' `cmd/kube-scheduler/app/server.go`): client, informers,
health server, Event recorder, leader election. `main` is the `minik8s-scheduler` command."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket

from minik8s.client import tasks
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.client.leaderelection import LeaderElector, default_identity
from minik8s.componentbase import runner
from minik8s.componentbase.events import EventRecorder
from minik8s.componentbase.health import HealthServer
from minik8s.scheduler import config
from minik8s.scheduler.binder import AiohttpBinder
from minik8s.scheduler.config import SchedulerSettings
from minik8s.scheduler.scheduler import Scheduler

logger = logging.getLogger(__name__)

COMPONENT = "default-scheduler"


async def run(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    """Run the scheduler until `stop` is set."""
    config = load_kubeconfig(settings.kubeconfig)
    client_settings = ClientSettings(user_agent="minik8s-scheduler/0.1")
    async with ApiClient(config, client_settings) as client:
        binder = AiohttpBinder(config, settings.max_binds_in_flight)
        recorder = EventRecorder(client, COMPONENT, host=socket.gethostname(), create=binder.post)
        scheduler = Scheduler(client, settings, recorder, binder=binder)
        health: HealthServer | None = None
        if settings.healthz_port >= 0:
            health = HealthServer(
                settings.healthz_bind_address, settings.healthz_port,
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
            await binder.aclose()
            if health is not None:
                await health.stop()


async def _schedule(client: ApiClient, scheduler: Scheduler, settings: SchedulerSettings) -> None:
    """Schedule while leading: campaign again whenever leadership is lost."""
    if not settings.leader_elect:
        await scheduler.run()
        return
    elector = LeaderElector(
        client, settings.lease_namespace, settings.lease_name, default_identity(),
        settings.lease_duration, settings.renew_deadline, settings.retry_period,
    )  # fmt: skip
    logger.info(
        "campaigning for lease %s/%s as %s",
        settings.lease_namespace, settings.lease_name, elector.identity,
    )  # fmt: skip
    while True:
        await elector.run(scheduler.run)
        logger.warning("lost the lease %s; campaigning again", elector.lease_key)


def main(argv: list[str] | None = None) -> None:
    """`minik8s-scheduler`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "minik8s-scheduler", settings.log_level)


if __name__ == "__main__":
    main()
