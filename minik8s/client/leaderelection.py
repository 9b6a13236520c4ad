"""Leader election over a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does.

Candidates read the Lease every `retry_period`; one may take it when it is missing, free, or
expired (`renewTime + leaseDurationSeconds` has passed). Every write carries the Lease's
resourceVersion, so of two candidates acting at once exactly one wins (the other gets 409).
The leader renews every `retry_period` and gives up when it could not renew for
`renew_deadline`. The decisions are pure functions of the Lease and the time.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from minik8s.api import errors, times
from minik8s.api.resources import LEASES
from minik8s.client import tasks
from minik8s.client.api import ApiClient

logger = logging.getLogger(__name__)


def default_identity() -> str:
    """`hostname_uuid`, unique per process, like the components of Kubernetes use."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaseAction(enum.Enum):
    CREATE = "create"
    """No Lease exists: create it, holding it."""
    RENEW = "renew"
    """We hold the Lease: renew it."""
    ACQUIRE = "acquire"
    """The Lease is free or expired: take it over."""
    WAIT = "wait"
    """Someone else holds a live Lease."""


def lease_expired(spec: dict[str, Any], now: datetime) -> bool:
    """Whether nobody holds the Lease at `now` (no holder, or its last renewal ran out)."""
    if not spec.get("holderIdentity"):
        return True
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not renewed:
        return True
    renewed_at = times.parse_time(renewed)
    if renewed_at is None:
        return True
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return renewed_at + timedelta(seconds=duration) <= now


def decide(lease: dict[str, Any] | None, identity: str, now: datetime) -> LeaseAction:
    """What `identity` should do with the Lease (None if it does not exist) at `now`."""
    if lease is None:
        return LeaseAction.CREATE
    spec = lease.get("spec") or {}
    if spec.get("holderIdentity") == identity:
        return LeaseAction.RENEW
    if lease_expired(spec, now):
        return LeaseAction.ACQUIRE
    return LeaseAction.WAIT


def held_spec(
    spec: dict[str, Any] | None, identity: str, lease_duration: float, now: datetime
) -> dict[str, Any]:
    """The Lease spec after `identity` creates, renews or takes over the Lease at `now`."""
    old = spec or {}
    renewing = old.get("holderIdentity") == identity
    transitions = int(old.get("leaseTransitions") or 0)
    if old and not renewing:
        transitions += 1
    stamp = times.format_micro_time(now)
    return {
        **old,
        "holderIdentity": identity,
        "leaseDurationSeconds": max(1, math.ceil(lease_duration)),
        "acquireTime": old.get("acquireTime") if renewing and old.get("acquireTime") else stamp,
        "renewTime": stamp,
        "leaseTransitions": transitions,
    }


def released_spec(spec: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Lease spec after its holder lets it go: no holder, expiring one second later."""
    stamp = times.format_micro_time(now)
    released = {k: v for k, v in spec.items() if k != "holderIdentity"}
    return {**released, "leaseDurationSeconds": 1, "acquireTime": stamp, "renewTime": stamp}


class LeaderElector:
    """Campaign for one Lease; run the leader's work while holding it."""

    def __init__(
        self,
        client: ApiClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        *,
        clock: Callable[[], datetime] = times.utc_now,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self.is_leader = False
        self.observed_holder: str | None = None
        """The holder seen in the Lease at the last read."""

    @property
    def lease_key(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def run(
        self,
        on_started_leading: Callable[[], Coroutine[Any, Any, None]],
        on_stopped_leading: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """Wait to lead, then run `on_started_leading()` until leadership ends.

        Returns when the lease is lost or the work returns; when cancelled, stops the work
        and releases the lease before re-raising. `on_stopped_leading` runs in both cases.
        """
        await self._acquire()
        self.is_leader = True
        logger.info("lease %s: %s is now the leader", self.lease_key, self.identity)
        work = tasks.spawn(on_started_leading(), f"lease {self.lease_key} leader work")
        renewal = tasks.spawn(self._keep_renewing(), f"lease {self.lease_key} renewal")
        try:
            await asyncio.wait({work, renewal}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            still_holding = not renewal.done()
            await tasks.cancel_and_wait([work, renewal])
            self.is_leader = False
            if still_holding:
                try:
                    await asyncio.wait_for(self._release(), self.renew_deadline)
                except (TimeoutError, errors.ApiError) as e:
                    logger.warning("lease %s: could not release: %s", self.lease_key, e)
            if on_stopped_leading is not None:
                result = on_stopped_leading()
                if inspect.isawaitable(result):
                    await result

    async def _acquire(self) -> None:
        while True:
            if await self.try_acquire_or_renew():
                return
            await asyncio.sleep(self.retry_period * (1.0 + 0.2 * random.random()))

    async def _keep_renewing(self) -> None:
        loop = asyncio.get_running_loop()
        last_renewal = loop.time()
        while True:
            await asyncio.sleep(self.retry_period)
            remaining = self.renew_deadline - (loop.time() - last_renewal)
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), max(remaining, 0.1))
            except TimeoutError:
                renewed = False
            if renewed:
                last_renewal = loop.time()
                continue
            if self.observed_holder not in (None, self.identity):
                logger.warning(
                    "lease %s: %s lost the lease to %s",
                    self.lease_key, self.identity, self.observed_holder,
                )  # fmt: skip
                return
            if loop.time() - last_renewal >= self.renew_deadline:
                logger.warning(
                    "lease %s: %s could not renew for %.1fs; stepping down",
                    self.lease_key, self.identity, self.renew_deadline,
                )  # fmt: skip
                return

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to create, take over or renew the Lease; True if we hold it now."""
        try:
            lease: dict[str, Any] | None = await self.client.get(LEASES, self.name, self.namespace)
        except errors.NotFound:
            lease = None
        except errors.ApiError as e:
            logger.warning("lease %s: cannot read: %s", self.lease_key, e.message)
            return False
        now = self._clock()
        action = decide(lease, self.identity, now)
        if lease is not None:
            self.observed_holder = (lease.get("spec") or {}).get("holderIdentity")
        if action is LeaseAction.WAIT:
            return False
        spec = held_spec(
            lease.get("spec") if lease else None, self.identity, self.lease_duration, now
        )
        try:
            if lease is None:
                body = {
                    "apiVersion": LEASES.api_version,
                    "kind": LEASES.kind,
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": spec,
                }
                await self.client.create(LEASES, body, self.namespace)
            else:
                await self.client.update(LEASES, {**lease, "spec": spec})
        except (errors.Conflict, errors.AlreadyExists):
            logger.debug("lease %s: another candidate wrote first", self.lease_key)
            return False
        except errors.ApiError as e:
            logger.warning("lease %s: cannot %s: %s", self.lease_key, action.value, e.message)
            return False
        if action is LeaseAction.ACQUIRE:
            logger.info(
                "lease %s: %s took over from %s",
                self.lease_key, self.identity, self.observed_holder or "nobody",
            )  # fmt: skip
        self.observed_holder = self.identity
        return True

    async def _release(self) -> None:
        """Give the Lease up if we still hold it, so a successor need not wait for expiry."""
        lease = await self.client.get(LEASES, self.name, self.namespace)
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity:
            return
        await self.client.update(LEASES, {**lease, "spec": released_spec(spec, self._clock())})
        logger.info("lease %s: %s released the lease", self.lease_key, self.identity)
