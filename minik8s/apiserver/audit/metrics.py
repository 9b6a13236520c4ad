"""Prometheus metrics of auditing, with Kubernetes' names (`k8s.io/apiserver/pkg/audit`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

ERRORS = Counter(
    "apiserver_audit_error_total",
    "Counter of audit events that failed to be audited properly. Plugin identifies the plugin "
    "affected by the error.",
    ["plugin"],
)


class Counts(Collector):
    """`apiserver_audit_event_total` and `apiserver_audit_level_total{level}`: plain integers
    bumped on the event loop (a prometheus Counter takes a lock per increment, several per
    request), read at scrape time."""

    def __init__(self) -> None:
        self.events = 0
        self.levels: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        events = CounterMetricFamily(
            "apiserver_audit_event",
            "Counter of audit events generated and sent to the audit backend.",
        )
        events.add_metric([], self.events)
        yield events
        levels = CounterMetricFamily(
            "apiserver_audit_level",
            "Counter of policy levels for audit events (1 per request).",
            labels=["level"],
        )
        for level, count in list(self.levels.items()):
            levels.add_metric([level], count)
        yield levels


COUNTS = Counts()
REGISTRY.register(COUNTS)

BUFFERED = "buffered"
"""The plugin named when a full buffer drops events (Kubernetes' buffered backend)."""
LOG_INTERVAL = 10.0
"""Seconds between two log lines about the same plugin's errors."""

_children: dict[tuple[Any, str], Any] = {}
_last_logged: dict[str, float] = {}


def _child(counter: Any, label: str) -> Any:
    found = _children.get((counter, label))
    if found is None:
        found = _children[(counter, label)] = counter.labels(label)
    return found


def observe_level(level: str) -> None:
    levels = COUNTS.levels
    levels[level] = levels.get(level, 0) + 1


def plugin_error(plugin: str, events: int, error: str) -> None:
    """Count events a plugin lost; log it at most once per `LOG_INTERVAL` per plugin."""
    _child(ERRORS, plugin).inc(events)
    now = time.monotonic()
    if now - _last_logged.get(plugin, 0.0) >= LOG_INTERVAL:
        _last_logged[plugin] = now
        logger.error("Error in audit plugin '%s' affecting %d audit events: %s",
                     plugin, events, error)  # fmt: skip
