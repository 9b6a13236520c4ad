"""Kubernetes' workqueue on asyncio: each key handled by one worker at a time, in parallel
across keys, de-duplicated while waiting, and requeued with per-key exponential backoff.

    queue = WorkQueue(name="replicaset")
    informer.add_event_handler(on_add=lambda o: queue.add(cache.object_key(o)), ...)
    await run_workers(queue, reconcile, workers=4)

Semantics of client-go: a key added while it waits is queued once; a key added while a worker
processes it is queued again when that worker calls `done(key)`, never handed to two workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from minik8s.api import errors
from minik8s.client import tasks

logger = logging.getLogger(__name__)


class ShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down: the worker should exit."""


# --- rate limiters (pure: no I/O, clock injectable) ----------------------------------------


class RateLimiter(Protocol):
    def when(self, key: str) -> float:
        """Seconds `key` should wait before its next try (counts one more failure)."""
        ...

    def forget(self, key: str) -> None:
        """Stop tracking `key`: it succeeded."""
        ...

    def num_requeues(self, key: str) -> int: ...


class ExponentialBackoffRateLimiter:
    """`base * 2**failures`, capped: 5ms, 10ms, 20ms, … up to 1000s (client-go's default)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        if exponent > 62:
            return self.cap
        return min(self.base * (2.0**exponent), self.cap)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """One token bucket for all keys: at most `qps` retries a second after a `burst`."""

    def __init__(
        self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: str) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: str) -> None:
        pass

    def num_requeues(self, key: str) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of its limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, key: str) -> float:
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: str) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter() -> RateLimiter:
    """client-go's DefaultControllerRateLimiter: per-key backoff and an overall 10 qps bucket."""
    return MaxOfRateLimiter(ExponentialBackoffRateLimiter(), BucketRateLimiter(10.0, 100))


# --- the queue ------------------------------------------------------------------------------


class WorkQueue:
    """A de-duplicating, delaying, rate-limited queue of string keys. Use it from one loop."""

    def __init__(self, rate_limiter: RateLimiter | None = None, name: str = "queue") -> None:
        self.name = name
        self.rate_limiter = rate_limiter or default_controller_rate_limiter()
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        """Keys that need processing: those queued, and those re-added while processing."""
        self._processing: set[str] = set()
        self._delayed: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        """Keys ready to be handed out (neither delayed nor being processed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def processing(self) -> set[str]:
        return set(self._processing)

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by done(key)
        self._queue.append(key)
        self._wake_one()

    async def get(self) -> str:
        """The next key, waiting for one; raises `ShutDown` once the queue is shut down."""
        while not self._queue and not self._shutting_down:
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._getters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were woken and cancelled at once: pass it on
                raise
        if self._shutting_down:
            raise ShutDown(self.name)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        """The worker finished `key`; if it was added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` after `delay` seconds; of several pending delays the earliest wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        handle = loop.call_at(ready_at, self._add_delayed, key)
        self._delayed[key] = (ready_at, handle)

    def _add_delayed(self, key: str) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        """Add `key` after the rate limiter's wait (longer after each failure of the key)."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.num_requeues(key)

    def shutdown(self) -> None:
        """Stop handing out keys: waiting and future `get()` calls raise `ShutDown`."""
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def run_workers(
    queue: WorkQueue,
    handler: Callable[[str], Awaitable[object]],
    workers: int,
    *,
    max_retries: int | None = None,
) -> None:
    """Run `workers` workers calling `await handler(key)` until the queue shuts down.

    A key whose handler raises is requeued with the rate limiter's backoff (and dropped after
    `max_retries` requeues, if given); one that succeeds is forgotten by the rate limiter.
    """
    names = [f"{queue.name} worker {i}" for i in range(workers)]
    running = [tasks.spawn(_work(queue, handler, name, max_retries), name) for name in names]
    try:
        await asyncio.gather(*running)
    finally:
        await tasks.cancel_and_wait(running)


async def _work(
    queue: WorkQueue,
    handler: Callable[[str], Awaitable[object]],
    name: str,
    max_retries: int | None,
) -> None:
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await handler(key)
        except Exception as e:
            requeues = queue.num_requeues(key)
            traceback = not isinstance(e, errors.ApiError)
            if max_retries is not None and requeues >= max_retries:
                logger.error(
                    "%s: %s failed %d times, dropping it: %s", name, key, requeues + 1, e,
                    exc_info=traceback,
                )  # fmt: skip
                queue.forget(key)
            else:
                logger.warning(
                    "%s: %s failed (retry %d): %s", name, key, requeues + 1, e, exc_info=traceback
                )
                queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
