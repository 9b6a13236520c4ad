"""Wait for a condition with a deadline; fail saying what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def wait_for(
    condition: Callable[[], T],
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll `condition` until it returns a truthy value; return that value. On timeout,
    `explain()` (if given) says what was seen instead."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # the condition may fail while the thing is not there yet
            last_error = e
        if time.monotonic() > deadline:
            suffix = f" (last error: {last_error!r})" if last_error else ""
            if explain is not None:
                suffix += f"; {explain()}"
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{suffix}")
        time.sleep(interval)


async def async_wait_for(
    condition: Callable[[], Awaitable[T]], what: str, timeout: float = 10.0, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = await condition()
            if value:
                return value
        except Exception as e:
            last_error = e
        if time.monotonic() > deadline:
            suffix = f" (last error: {last_error!r})" if last_error else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{suffix}")
        await asyncio.sleep(interval)
