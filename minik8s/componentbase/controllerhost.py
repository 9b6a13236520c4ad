"""What kube-controller-manager and cloud-controller-manager share (Kubernetes'
`controller-manager/app`): health endpoints, running the controllers only while leading, and
the controllers' lifecycle — recorders and informers started, the first lists awaited, every
controller run as a task, and all of it stopped again when leadership (or the process) ends.
Each manager says which controllers it builds and what else makes it ready."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory
from minik8s.componentbase import leading, options
from minik8s.componentbase.events import EventRecorder
from minik8s.componentbase.health import HealthServer

logger = logging.getLogger(__name__)

SYNC_TIMEOUT = 60.0
"""Seconds to wait for the informers' first lists before saying so (and waiting on)."""


class Controller(Protocol):
    name: str

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class ControllerHost:
    """Runs `self.controllers` while this process leads; `/readyz` is 200 while they run
    (and every extra check of `readiness()` passes)."""

    work_name = "controllers"
    """The name of the task that runs the controllers (in logs)."""

    def __init__(
        self,
        client: ApiClient,
        healthz: options.HealthzOptions,
        leader_election: options.LeaderElectionOptions,
        identity: str | None = None,
    ) -> None:
        self.client = client
        self.healthz = healthz
        self.leader_election = leader_election
        self.identity = identity
        self.running = False
        """True while the controllers run (this process leads)."""
        self.controllers: Sequence[Controller] = []

    def readiness(self) -> dict[str, Callable[[], bool]]:
        """`/readyz`'s checks; a manager with more to be ready for adds its own."""
        return {"controllers": lambda: self.running}

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set (or the Lease is lost, which raises `LeadershipLost`)."""
        health = HealthServer(
            self.healthz.bind_address, max(self.healthz.port, 0),
            liveness={"ping": lambda: True}, readiness=self.readiness(),
        )  # fmt: skip
        if self.healthz.port >= 0:
            await health.start()
        try:
            await leading.run_while_leading(
                stop, self.leader_election, self.client, self.run_controllers,
                self.work_name, self.identity,
            )  # fmt: skip
        finally:
            await health.stop()

    async def run_controllers(self) -> None:
        """Overridden: build the informers, recorders and controllers, then `run_them`."""
        raise NotImplementedError

    async def run_them(
        self,
        informers: InformerFactory,
        recorders: Sequence[EventRecorder],
        controllers: Sequence[Controller],
        description: str,
    ) -> None:
        """Start `recorders` and `informers`, wait for the first lists, run every controller
        until cancelled, then stop all of it."""
        self.controllers = controllers
        for recorder in recorders:
            recorder.start()
        informers.start()
        running: list[asyncio.Task[None]] = []
        try:
            while not await informers.wait_synced(SYNC_TIMEOUT):
                logger.warning("informers not synced after %.0fs; still waiting", SYNC_TIMEOUT)
            logger.info("caches synced; running controllers: %s", description)
            self.running = True
            running = [tasks.spawn(c.run(), f"controller {c.name}") for c in controllers]
            await asyncio.gather(*running)
        finally:
            self.running = False
            for controller in controllers:
                controller.stop()
            await tasks.cancel_and_wait(running, timeout=5.0)
            await informers.stop()
            for recorder in recorders:
                await recorder.stop(flush_seconds=1.0)
