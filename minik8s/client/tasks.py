"""Named background tasks whose crashes are logged, and their orderly cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    """Start `coro` as a task called `name`; log its exception if it crashes."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_log_crash)
    return task


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error("task %s crashed: %r", task.get_name(), exc, exc_info=exc)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout: float = 10.0) -> None:
    """Cancel `tasks` and wait for them to finish; log those still running after `timeout`."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    done, stuck = await asyncio.wait(pending, timeout=timeout)
    for task in done:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()  # retrieved so asyncio does not warn; crashes were logged already
    for task in stuck:
        logger.warning(
            "task %s did not stop within %.1fs of cancellation", task.get_name(), timeout
        )


async def run_until(stop: asyncio.Event, work: Coroutine[Any, Any, None], name: str) -> bool:
    """Run `work` as a task called `name` until it ends or `stop` is set; True if it ended by
    itself (raising what it raised), False if `stop` ended it."""
    task = spawn(work, name)
    stopping = spawn(stop.wait(), f"{name} stop")
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended = task.done()
        await cancel_and_wait([task, stopping])
    error = task.exception() if ended and not task.cancelled() else None
    if error is not None:
        raise error
    return ended
