"""Prometheus metrics of auditing, with Kubernetes' names (`k8s.io/apiserver/pkg/audit`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import Counter

logger = logging.getLogger(__name__)

EVENTS = Counter(
    "apiserver_audit_event_total",
    "Counter of audit events generated and sent to the audit backend.",
)
ERRORS = Counter(
    "apiserver_audit_error_total",
    "Counter of audit events that failed to be audited properly. Plugin identifies the plugin "
    "affected by the error.",
    ["plugin"],
)
LEVELS = Counter(
    "apiserver_audit_level_total",
    "Counter of policy levels for audit events (1 per request).",
    ["level"],
)

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
    _child(LEVELS, level).inc()


def plugin_error(plugin: str, events: int, error: str) -> None:
    """Count events a plugin lost; log it at most once per `LOG_INTERVAL` per plugin."""
    _child(ERRORS, plugin).inc(events)
    now = time.monotonic()
    if now - _last_logged.get(plugin, 0.0) >= LOG_INTERVAL:
        _last_logged[plugin] = now
        logger.error("Error in audit plugin '%s' affecting %d audit events: %s",
                     plugin, events, error)  # fmt: skip
