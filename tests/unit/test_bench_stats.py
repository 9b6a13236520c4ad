"""The one percentile the benchmarks print (nearest rank)."""

import math

from bench.stats import percentile


def test_nearest_rank_of_a_hundred_samples_is_the_sample_at_that_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0


def test_small_samples_never_index_out_of_range() -> None:
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([1.0, 2.0], 0.5) == 1.0
    assert percentile([1.0, 2.0], 0.0) == 1.0


def test_no_samples_is_nan() -> None:
    assert math.isnan(percentile([], 0.5))
