"""Order statistics the benchmarks print: one definition of a percentile for all of them."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank `q`-quantile (0 < q <= 1) of `values`; NaN when there are none.

    Nearest rank (the smallest value with at least q of the values at or below it) is what
    clusterloader2's latency summaries report: a p99 of 100 samples is the 99th, not an
    interpolation between the 99th and the 100th.
    """
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
