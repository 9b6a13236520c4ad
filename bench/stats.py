"""Order statistics the benchmarks print: one definition of a percentile for all of them, one
of a histogram's quantile, and one reader of Prometheus' text format."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from prometheus_client.parser import text_string_to_metric_families


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


def histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket holding the q-th observation."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return 0.0
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            inside = count - previous_count
            return previous_bound + (bound - previous_bound) * (
                (rank - previous_count) / inside if inside else 1.0
            )
        previous_bound, previous_count = bound, count
    return previous_bound


def samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    """(labels, value) of every sample named `name` (e.g. `x_bucket`, `x_total`) in a
    Prometheus text exposition."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield sample.labels, sample.value
