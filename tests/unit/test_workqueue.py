"""WorkQueue semantics (client-go's): de-duplication, one worker per key, delays, backoff."""

from __future__ import annotations

import asyncio

import pytest

from minik8s.client import tasks
from minik8s.client.workqueue import (
    BucketRateLimiter,
    ExponentialBackoffRateLimiter,
    MaxOfRateLimiter,
    ShutDown,
    WorkQueue,
    run_workers,
)
from tests.support.waiting import async_wait_for


def fast_queue() -> WorkQueue:
    return WorkQueue(ExponentialBackoffRateLimiter(base=0.001, cap=0.05), name="test")


async def test_a_waiting_key_is_queued_once() -> None:
    queue = fast_queue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        queue.add(key)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue = fast_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key in flight must not be queued a second time"
    assert queue.processing() == {"a"}
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0 and queue.processing() == set()


async def test_done_without_re_add_does_not_requeue() -> None:
    queue = fast_queue()
    queue.add("a")
    key = await queue.get()
    queue.done(key)
    assert len(queue) == 0


async def test_get_waits_for_an_add() -> None:
    queue = fast_queue()
    getter = asyncio.create_task(queue.get(), name="getter")
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("x")
    assert await asyncio.wait_for(getter, 2) == "x"


async def test_a_cancelled_getter_does_not_swallow_a_key() -> None:
    queue = fast_queue()
    first = asyncio.create_task(queue.get(), name="first")
    second = asyncio.create_task(queue.get(), name="second")
    await asyncio.sleep(0)
    queue.add("x")  # wakes `first` …
    first.cancel()  # … which is cancelled before it runs: `second` must get the key
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 2) == "x"


async def test_add_after_delays_the_key() -> None:
    queue = fast_queue()
    queue.add_after("a", 0.05)
    assert len(queue) == 0
    await async_wait_for(lambda: _ready(queue, 1), "a delayed key to become ready", timeout=2)
    assert await queue.get() == "a"


async def test_add_after_keeps_the_earliest_time() -> None:
    queue = fast_queue()
    queue.add_after("a", 60)
    queue.add_after("a", 0.01)
    queue.add_after("a", 30)
    await async_wait_for(lambda: _ready(queue, 1), "the earliest delay to win", timeout=2)
    queue.shutdown()  # cancels the timers still pending


async def test_add_after_zero_adds_at_once() -> None:
    queue = fast_queue()
    queue.add_after("a", 0)
    assert len(queue) == 1


def test_exponential_backoff_grows_per_key_and_is_capped() -> None:
    limiter = ExponentialBackoffRateLimiter(base=0.005, cap=1000.0)
    delays = [limiter.when("a") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert limiter.num_requeues("a") == 5
    assert limiter.when("b") == pytest.approx(0.005), "keys back off independently"
    for _ in range(100):
        limiter.when("a")
    assert limiter.when("a") == 1000.0
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_bucket_limiter_allows_a_burst_then_spaces_out() -> None:
    now = [0.0]
    limiter = BucketRateLimiter(qps=10, burst=3, clock=lambda: now[0])
    assert [limiter.when("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.when("k") == pytest.approx(0.1)
    assert limiter.when("k") == pytest.approx(0.2)
    now[0] += 10
    assert limiter.when("k") == 0


def test_max_of_limiter_takes_the_longest_wait() -> None:
    now = [0.0]
    limiter = MaxOfRateLimiter(
        ExponentialBackoffRateLimiter(base=1, cap=100), BucketRateLimiter(1, 1, lambda: now[0])
    )
    assert limiter.when("a") == 1  # backoff 1s vs bucket 0
    assert limiter.when("a") == 2  # backoff 2s vs bucket 1s
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


async def test_add_rate_limited_waits_longer_each_time() -> None:
    queue = WorkQueue(ExponentialBackoffRateLimiter(base=0.02, cap=1.0))
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        started = loop.time()
        queue.add_rate_limited("a")
        key = await asyncio.wait_for(queue.get(), 5)
        waits.append(loop.time() - started)
        queue.done(key)
    assert queue.num_requeues("a") == 3
    assert waits[0] >= 0.015 and waits[1] >= 0.035 and waits[2] >= 0.075
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_shutdown_releases_waiting_workers_and_ignores_adds() -> None:
    queue = fast_queue()
    getter = asyncio.create_task(queue.get(), name="getter")
    await asyncio.sleep(0)
    queue.add_after("later", 60)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(getter, 2)
    queue.add("a")
    assert len(queue) == 0
    with pytest.raises(ShutDown):
        await queue.get()
    assert queue.shutting_down


async def test_run_workers_retries_failures_then_forgets() -> None:
    queue = fast_queue()
    calls: dict[str, int] = {}

    async def handler(key: str) -> None:
        calls[key] = calls.get(key, 0) + 1
        if key == "flaky" and calls[key] < 3:
            raise RuntimeError("not yet")

    workers = tasks.spawn(run_workers(queue, handler, workers=3), "workers")
    queue.add("flaky")
    queue.add("ok")
    await async_wait_for(
        lambda: _true(calls.get("flaky") == 3 and calls.get("ok") == 1),
        "flaky to succeed on its third try",
        timeout=5,
    )
    assert queue.num_requeues("flaky") == 0, "success must forget the key's backoff"
    queue.shutdown()
    await asyncio.wait_for(workers, 5)


async def test_run_workers_drops_a_key_after_max_retries() -> None:
    queue = fast_queue()
    calls = []

    async def handler(key: str) -> None:
        calls.append(key)
        raise RuntimeError("always")

    workers = tasks.spawn(run_workers(queue, handler, workers=1, max_retries=2), "workers")
    queue.add("bad")
    await async_wait_for(lambda: _true(len(calls) == 3), "three tries of the bad key", timeout=5)
    await async_wait_for(lambda: _true(not queue.processing()), "the key to be done", timeout=5)
    assert len(queue) == 0 and queue.num_requeues("bad") == 0
    queue.shutdown()
    await asyncio.wait_for(workers, 5)


async def test_run_workers_never_runs_one_key_twice_at_once() -> None:
    queue = fast_queue()
    in_flight: set[str] = set()
    overlaps: list[str] = []
    handled: dict[str, int] = {}

    async def handler(key: str) -> None:
        if key in in_flight:
            overlaps.append(key)
        in_flight.add(key)
        await asyncio.sleep(0.002)
        if handled.get(key, 0) < 3:
            queue.add(key)  # re-added while being processed
        handled[key] = handled.get(key, 0) + 1
        in_flight.discard(key)

    workers = tasks.spawn(run_workers(queue, handler, workers=8), "workers")
    for _ in range(5):
        for key in ("a", "b", "c"):
            queue.add(key)
        await asyncio.sleep(0.001)
    await async_wait_for(
        lambda: _true(all(handled.get(k, 0) >= 4 for k in "abc") and not queue.processing()),
        "every key to be handled until it stops re-adding itself",
        timeout=5,
    )
    assert overlaps == []
    queue.shutdown()
    await asyncio.wait_for(workers, 5)


async def test_cancelling_run_workers_stops_every_worker() -> None:
    queue = fast_queue()

    async def handler(key: str) -> None:
        await asyncio.sleep(60)

    workers = tasks.spawn(run_workers(queue, handler, workers=2), "workers")
    queue.add("slow")
    await async_wait_for(lambda: _true(queue.processing() == {"slow"}), "slow to start")
    await tasks.cancel_and_wait([workers], timeout=5)
    assert workers.cancelled()
    assert queue.processing() == set(), "a cancelled worker still marks its key done"
    assert [t for t in asyncio.all_tasks() if "worker" in t.get_name()] == []


async def _ready(queue: WorkQueue, n: int) -> bool:
    return len(queue) == n


async def _true(value: bool) -> bool:
    return value
