"""Garbage collector settings for long-running components.

Every component holds large caches of small dicts (the apiserver's watch cache, informers), and
CPython's default thresholds make the collector walk them over and over: in the scheduler
benchmark it took 8% of the apiserver's CPU, most of it in full collections of ~100 ms each,
which are also latency spikes. Reference counting frees almost everything these processes
allocate; the cyclic collector only needs to run now and then.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)
"""Young collection after 50 000 net new tracked objects (default 700); older generations as
rarely relative to it as by default in count, so a full collection follows ~10M allocations."""


def tune_garbage_collector() -> None:
    """Call once start-up imports are done: they never become garbage, so stop scanning them."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
