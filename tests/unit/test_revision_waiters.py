"""Requests waiting for the watch cache's revision are woken when it is reached, and only
then; those that gave up do not pile up."""

from __future__ import annotations

import asyncio

from minik8s.apiserver import revisionwaiters
from minik8s.apiserver.revisionwaiters import RevisionWaiters


async def test_an_advance_wakes_exactly_the_waiters_it_satisfies() -> None:
    waiters = RevisionWaiters()
    three, five, five_too, nine = (waiters.add(revision) for revision in (3, 5, 5, 9))
    assert waiters.advance(2) == 0
    assert waiters.advance(5) == 3
    assert three.done() and five.done() and five_too.done() and not nine.done()
    assert len(waiters) == 1
    assert waiters.advance(100) == 1 and nine.done()


async def test_thousands_of_waiters_cost_one_wake_each() -> None:
    waiters = RevisionWaiters()
    futures = [waiters.add(revision) for revision in range(1, 3001)]
    woken = [waiters.advance(revision) for revision in range(1, 3001)]
    assert woken == [1] * 3000
    assert all(f.done() for f in futures) and len(waiters) == 0


async def test_waiters_that_gave_up_are_dropped() -> None:
    waiters = RevisionWaiters()
    kept = waiters.add(10)
    for _ in range(revisionwaiters.REBUILD_AFTER):
        gone = waiters.add(10**12)  # a revision that never comes
        gone.cancel()
        waiters.abandon()
    assert len(waiters) == 1
    assert waiters.advance(10) == 1 and kept.done()


async def test_the_watch_cache_waits_for_its_revision_and_times_out_with_a_504() -> None:
    from minik8s.api import errors
    from minik8s.apiserver.watchcache import WatchCache

    cache = WatchCache(store=None, resync_wait=0.05)  # type: ignore[arg-type]
    waiting = asyncio.create_task(cache.wait_for_revision(7, timeout=5))
    await asyncio.sleep(0)
    await cache._advance(6)
    await asyncio.sleep(0)
    assert not waiting.done()
    await cache._advance(7)
    await asyncio.wait_for(waiting, 1)
    try:
        await cache.wait_for_revision(8)
    except errors.Timeout as e:
        assert "Too large resource version: 8, current: 7" in e.message
    else:
        raise AssertionError("no 504 for a revision the cache never reached")
    assert len(cache._waiters) == 1  # abandoned, dropped once such waiters pile up
