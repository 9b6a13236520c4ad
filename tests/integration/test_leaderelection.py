"""Leader election over a real Lease: one leader at a time, takeover on release or expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minik8s.api.resources import LEASES
from minik8s.api.times import parse_time
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.client.leaderelection import LeaderElector
from tests.support.waiting import async_wait_for

LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 3.0, 2.0, 0.3


def elector(client: ApiClient, lease: str, identity: str) -> LeaderElector:
    return LeaderElector(
        client, "kube-system", lease, identity, LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD
    )


@pytest.fixture()
async def client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as c:
        yield c


class Candidate:
    def __init__(self, client: ApiClient, lease: str, identity: str) -> None:
        self.elector = elector(client, lease, identity)
        self.leading = False
        self.stopped = 0
        self.task: asyncio.Task[None] | None = None

    async def work(self) -> None:
        self.leading = True
        try:
            await asyncio.Event().wait()  # lead until cancelled
        finally:
            self.leading = False

    def on_stopped(self) -> None:
        self.stopped += 1

    def start(self) -> None:
        run = self.elector.run(self.work, self.on_stopped)
        self.task = tasks.spawn(run, f"candidate {self.elector.identity}")

    async def stop(self) -> None:
        if self.task is not None:
            await tasks.cancel_and_wait([self.task])


async def test_one_leads_and_the_other_takes_over_when_it_stops(client: ApiClient) -> None:
    lease = f"test-{uuid.uuid4().hex[:8]}"
    a, b = Candidate(client, lease, "a"), Candidate(client, lease, "b")
    a.start()
    b.start()
    try:
        await async_wait_for(lambda: _true(a.leading or b.leading), "a leader", timeout=10)
        leader, follower = (a, b) if a.leading else (b, a)
        for _ in range(15):  # through several renew rounds, exactly one leads
            assert leader.leading and not follower.leading
            await asyncio.sleep(0.1)

        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        await leader.stop()
        assert leader.stopped == 1 and not leader.elector.is_leader
        await async_wait_for(
            lambda: _true(follower.leading), "the follower to take over", timeout=10
        )
        assert loop.time() - stopped_at < LEASE_DURATION, "released, so no expiry wait"
        held = await client.get(LEASES, lease, "kube-system")
        assert held["spec"]["holderIdentity"] == follower.elector.identity
        assert held["spec"]["leaseTransitions"] >= 1
        assert held["spec"]["leaseDurationSeconds"] == 3
    finally:
        await a.stop()
        await b.stop()


async def test_an_expired_lease_is_taken_over(client: ApiClient) -> None:
    lease = f"test-{uuid.uuid4().hex[:8]}"
    gone = elector(client, lease, "crashed")
    assert await gone.try_acquire_or_renew()  # holds it once, then never renews
    first = await client.get(LEASES, lease, "kube-system")

    successor = Candidate(client, lease, "successor")
    loop = asyncio.get_running_loop()
    started = loop.time()
    successor.start()
    try:
        await async_wait_for(lambda: _true(successor.leading), "the takeover", timeout=15)
        waited = loop.time() - started
        assert waited >= LEASE_DURATION - 1.0, "no takeover before expiry"
        taken = await client.get(LEASES, lease, "kube-system")
        assert taken["spec"]["leaseTransitions"] == first["spec"]["leaseTransitions"] + 1
        assert parse_time(taken["spec"]["acquireTime"]) > parse_time(first["spec"]["acquireTime"])
    finally:
        await successor.stop()


async def _true(value: bool) -> bool:
    return value
