"""Run a component's main coroutine as a process: logging, signals, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from minik8s.componentbase.gctuning import tune_garbage_collector

logger = logging.getLogger(__name__)

Main = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class StartupError(Exception):
    """A component cannot start for a reason its message says in full (a lock held by another
    process, …): logged as that one line, no traceback, and the process exits 1."""


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=level.upper() if not level.isdigit() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if logging.getLogger().level > logging.DEBUG:
        # httpx logs every request at INFO: one line per binding, Event or lease renewal.
        logging.getLogger("httpx").setLevel(logging.WARNING)


async def serve(main: Main, name: str, grace_seconds: float = 10.0) -> int:
    """Run `main(stop)`; SIGTERM/SIGINT set `stop`, then `main` has `grace_seconds` to return."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task: asyncio.Task[None] = asyncio.create_task(main(stop), name=f"{name}-main")
    stopping = asyncio.create_task(stop.wait(), name=f"{name}-stop-signal")
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        stopping.cancel()
        error = task.exception()
        if isinstance(error, StartupError):
            logger.error("%s: %s", name, error)
            return 1
        if error is not None:
            logger.error("%s failed", name, exc_info=error)
            return 1
        return 0
    logger.info("%s: stopping (signal received)", name)
    try:
        await asyncio.wait_for(asyncio.shield(task), grace_seconds)
    except TimeoutError:
        stuck = [t.get_name() for t in asyncio.all_tasks() if not t.done()]
        logger.warning("%s: still running after %.0fs, cancelling: %s", name, grace_seconds, stuck)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    except Exception:
        logger.exception("%s failed while stopping", name)
        return 1
    logger.info("%s: stopped", name)
    return 0


def run(main: Main, name: str, log_level: str = "info", grace_seconds: float = 10.0) -> None:
    """The body of a component's `main()`: exits with 0 after a clean stop."""
    setup_logging(log_level)
    tune_garbage_collector()
    try:
        import uvloop

        code = uvloop.run(serve(main, name, grace_seconds))
    except ImportError:  # uvloop comes with uvicorn[standard]; plain asyncio works too
        code = asyncio.run(serve(main, name, grace_seconds))
    sys.exit(code)
