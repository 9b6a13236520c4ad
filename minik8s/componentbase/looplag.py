"""How long the event loop is blocked: a timer's lateness, and how much of it was the loop's
own work.

A task sleeps `interval` again and again; how late it wakes is the loop's lag. A loop can be
late because the process was not scheduled (another process had the CPU) or because one
callback ran long; only the second is the process's fault. So each lag is also recorded as
`blocked`: the lag, but at most the CPU time the loop's thread used meanwhile. A `/metrics`
reader (the fuzz suite) checks that nothing blocked the loop for more than 100 ms.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG = Histogram(
    "minik8s_event_loop_lag_seconds",
    "How late the event loop ran a timer (includes time the process was not scheduled).",
    buckets=BUCKETS,
)
BLOCKED = Histogram(
    "minik8s_event_loop_blocked_seconds",
    "How long the event loop's own work kept it from running a timer (lag capped by the "
    "loop thread's CPU time meanwhile).",
    buckets=BUCKETS,
)
BLOCKED_MAX = Gauge(
    "minik8s_event_loop_blocked_max_seconds", "The longest block of the event loop so far."
)


async def monitor(interval: float = 0.05) -> None:
    """Measure until cancelled (run it as a named background task)."""
    loop = asyncio.get_running_loop()
    longest = 0.0
    while True:
        due = loop.time() + interval
        cpu = time.thread_time()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - due)
        blocked = min(lag, time.thread_time() - cpu)
        LAG.observe(lag)
        BLOCKED.observe(blocked)
        if blocked > longest:
            longest = blocked
            BLOCKED_MAX.set(blocked)
