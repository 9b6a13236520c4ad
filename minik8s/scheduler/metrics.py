"""Prometheus metrics of the scheduler (names as kube-scheduler's where one exists)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

ATTEMPTS = Counter(
    "scheduler_schedule_attempts_total",
    "Scheduling attempts by result (scheduled, unschedulable, error).",
    ["result"],
)
E2E_LATENCY = Histogram(
    "scheduler_pod_scheduling_duration_seconds",
    "End-to-end latency of a pod: from entering the queue to its binding being accepted.",
    buckets=_LATENCY_BUCKETS,
)
ALGORITHM_LATENCY = Histogram(
    "scheduler_scheduling_algorithm_duration_seconds",
    "Time to filter and score the nodes for one pod.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
BINDING_LATENCY = Histogram(
    "scheduler_binding_duration_seconds",
    "Latency of the binding request.",
    buckets=_LATENCY_BUCKETS,
)
PENDING = Gauge("scheduler_pending_pods", "Pods waiting in the queue, by part.", ["queue"])
LEADER = Gauge("scheduler_is_leader", "1 while this scheduler holds the leader Lease.")

SCHEDULED = ATTEMPTS.labels("scheduled")
UNSCHEDULABLE = ATTEMPTS.labels("unschedulable")
ERROR = ATTEMPTS.labels("error")


def watch_queue_depths(depths: Callable[[], dict[str, int]]) -> None:
    """Report the queue's depths at every scrape."""
    for part in ("active", "backoff", "unschedulable"):
        PENDING.labels(part).set_function(lambda part=part: depths()[part])  # type: ignore[misc]
