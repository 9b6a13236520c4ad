"""Prometheus metrics of the apiserver."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "apiserver_request_total",
    "Requests by verb, resource and HTTP code.",
    ["verb", "resource", "code"],
)
LATENCY = Histogram(
    "apiserver_request_duration_seconds",
    "Request latency by verb and resource.",
    ["verb", "resource"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WATCHES = Gauge("apiserver_registered_watchers", "Open watches by resource.", ["resource"])
WATCH_EVENTS = Counter(
    "apiserver_watch_events_total",
    "Events sent to watch clients by resource (initial events included).",
    ["resource"],
)
ETCD_LATENCY = Histogram(
    "etcd_request_duration_seconds",
    "etcd request latency by operation.",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
CACHE_REVISION = Gauge("apiserver_watch_cache_revision", "Latest etcd revision in the watch cache.")
CONSISTENT_READS = Counter(
    "apiserver_watch_cache_consistent_read",
    "Consistent lists by resource, whether they succeeded and whether they fell back to etcd "
    "(the watch cache did not catch up in time).",
    ["resource", "success", "fallback"],
)


_request_counters: dict[tuple[str, str, int], Any] = {}
_latency_histograms: dict[tuple[str, str], Any] = {}


def observe_request(verb: str, resource: str, code: int, started: float) -> None:
    # labels() hashes and locks on every call; the children are cached per label set.
    counter = _request_counters.get((verb, resource, code))
    if counter is None:
        counter = _request_counters[(verb, resource, code)] = REQUESTS.labels(
            verb, resource, str(code)
        )
    counter.inc()
    histogram = _latency_histograms.get((verb, resource))
    if histogram is None:
        histogram = _latency_histograms[(verb, resource)] = LATENCY.labels(verb, resource)
    histogram.observe(time.perf_counter() - started)


_etcd_histograms: dict[str, Any] = {}


def observe_etcd(operation: str, seconds: float) -> None:
    histogram = _etcd_histograms.get(operation)
    if histogram is None:
        histogram = _etcd_histograms[operation] = ETCD_LATENCY.labels(operation)
    histogram.observe(seconds)
