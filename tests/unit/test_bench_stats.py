"""The benchmarks' order statistics: one percentile (nearest rank), one histogram quantile, one
Prometheus text reader."""

import math

import pytest

from bench.stats import histogram_quantile, percentile, samples


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


def test_histogram_quantile_interpolates_within_its_bucket_as_prometheus() -> None:
    buckets = {0.1: 50.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(buckets, 0.5) == 0.1
    assert histogram_quantile(buckets, 0.75) == pytest.approx(0.55)
    assert histogram_quantile({0.1: 0.0, math.inf: 10.0}, 0.99) == 0.1  # in +Inf: its lower bound
    assert histogram_quantile({}, 0.99) == 0.0


def test_samples_reads_one_sample_name_with_its_labels() -> None:
    text = (
        "# TYPE x_seconds histogram\n"
        'x_seconds_bucket{verb="GET",le="0.5"} 3.0\n'
        'x_seconds_bucket{verb="GET",le="+Inf"} 4.0\n'
        "x_seconds_count 4.0\n"
        "# TYPE y_total counter\n"
        'y_total{level="system"} 7.0\n'
    )
    assert list(samples(text, "x_seconds_bucket")) == [
        ({"verb": "GET", "le": "0.5"}, 3.0),
        ({"verb": "GET", "le": "+Inf"}, 4.0),
    ]
    assert list(samples(text, "y_total")) == [({"level": "system"}, 7.0)]
