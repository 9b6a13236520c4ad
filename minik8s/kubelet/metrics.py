"""The kubelet's Prometheus metrics (Kubernetes' names), served on its /metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

POD_START = Histogram(
    "kubelet_pod_start_duration_seconds",
    "Seconds from a pod's creation to all its containers running, as seen by the kubelet.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120),
)
RUNNING_PODS = Gauge("kubelet_running_pods", "Pods with a running sandbox.")
RUNNING_CONTAINERS = Gauge("kubelet_running_containers", "App containers running.")
RUNTIME_OPS = Histogram(
    "kubelet_runtime_operations_duration_seconds",
    "Latency of container runtime operations.",
    ["operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RUNTIME_ERRORS = Counter(
    "kubelet_runtime_operations_errors_total", "Failed runtime operations.", ["operation_type"]
)
POD_SYNCS = Histogram(
    "kubelet_pod_worker_duration_seconds", "Duration of one pod sync.", ["operation_type"]
)


@contextmanager
def runtime_op(operation: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except Exception:
        RUNTIME_ERRORS.labels(operation).inc()
        raise
    finally:
        RUNTIME_OPS.labels(operation).observe(time.perf_counter() - started)


STEP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60)
POD_WORKER_START = Histogram(
    "kubelet_pod_worker_start_duration_seconds",
    "Duration in seconds from kubelet seeing a pod to starting a worker.",
    buckets=STEP_BUCKETS,
)
FIRST_SYNC_STEPS = Histogram(
    "kubelet_pod_first_sync_step_duration_seconds",
    "A minik8s addition: where a new pod's time goes from its binding to the kubelet's first "
    "status write, by step (watch: its PodScheduled time, whole seconds, to the kubelet's "
    "first sight; queue; sandbox; objects; volumes; containers; status_write).",
    ["step"],
    buckets=STEP_BUCKETS,
)


class StepTimer:
    """Times the steps of one pod's first sync, each from the end of the previous one."""

    def __init__(self, seen: float) -> None:
        self.seen = seen
        self.last = seen

    def mark(self, step: str) -> None:
        now = time.time()
        FIRST_SYNC_STEPS.labels(step).observe(max(0.0, now - self.last))
        self.last = now
