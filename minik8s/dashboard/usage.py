"""Node usage for the overview: each Node's CPU and memory usage from the metrics API
(`metrics.k8s.io/v1beta1` NodeMetrics, served by minik8s-metrics-server through the
aggregation layer) beside its capacity and allocatable, as `kubectl top nodes
--show-capacity` computes them (the percentage is of allocatable).

The metrics API has no watch: the stream reads the NodeMetrics list and the Nodes with the
user's client every `usage_period` seconds (the metrics server's own resolution is the
limit of freshness anyway) and sends `usage` only when something changed. A cluster without
the metrics API (404/503, or a user not allowed to read it) gets `{available: false}` with the
reason, never an error; usage comes back by itself when the API does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from minik8s.api import errors, meta, quantity, resources
from minik8s.client.api import ApiClient
from minik8s.dashboard import sse
from minik8s.dashboard.streams import StreamSettings

logger = logging.getLogger(__name__)

NODE_METRICS = "/apis/metrics.k8s.io/v1beta1/nodes"


def _millis(value: Any) -> int | None:
    try:
        return quantity.cpu_millis(value) if value is not None else None
    except ValueError:
        return None


def _bytes(value: Any) -> int | None:
    try:
        return quantity.memory_bytes(value) if value is not None else None
    except ValueError:
        return None


def _percent(used: int | None, of: int | None) -> int | None:
    if used is None or not of:
        return None
    return round(used * 100 / of)


def node_rows(nodes: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per Node (sorted by name): usage (None for a node without metrics yet),
    allocatable, capacity, the percentage of allocatable, and the metrics' window."""
    by_node = {meta.name_of(m): m for m in metrics}
    rows = []
    for node in sorted(nodes, key=meta.name_of):
        name = meta.name_of(node)
        status = node.get("status") or {}
        capacity = status.get("capacity") or {}
        allocatable = status.get("allocatable") or {}
        found = by_node.get(name) or {}
        usage = found.get("usage") or {}
        cpu = {
            "usage": _millis(usage.get("cpu")),
            "allocatable": _millis(allocatable.get("cpu")),
            "capacity": _millis(capacity.get("cpu")),
        }
        memory = {
            "usage": _bytes(usage.get("memory")),
            "allocatable": _bytes(allocatable.get("memory")),
            "capacity": _bytes(capacity.get("memory")),
        }
        cpu["percent"] = _percent(cpu["usage"], cpu["allocatable"])
        memory["percent"] = _percent(memory["usage"], memory["allocatable"])
        rows.append(
            {
                "name": name,
                "cpu": cpu,
                "memory": memory,
                "timestamp": found.get("timestamp"),
                "window": found.get("window"),
            }
        )
    return rows


def unavailable_reason(e: errors.ApiError) -> str:
    """Why usage is not shown, in the reader's words (kubectl top: "Metrics API not
    available")."""
    if e.code in (404, 503):
        return "Metrics API not available (no metrics server runs)"
    return f"{e.code} {e.reason}: {e.message}"


async def usage_stream(client: ApiClient, settings: StreamSettings) -> AsyncIterator[bytes]:
    """`usage` events: `{available: true, nodes: [...]}` or `{available: false, reason}`."""
    last: Any = None
    while True:
        try:
            listed = await client.list(resources.NODES)
            nodes = listed.get("items") or []
        except (errors.Unauthorized, errors.Forbidden) as e:
            payload: dict[str, Any] = {"available": False, "reason": unavailable_reason(e)}
            nodes = None
        except errors.ApiError as e:
            payload = {"available": False, "reason": f"reconnecting: {e.message}"}
            nodes = None
        if nodes is not None:
            try:
                answer = await client.request("GET", NODE_METRICS)
                metrics = answer.get("items") or [] if isinstance(answer, dict) else []
                payload = {"available": True, "nodes": node_rows(nodes, metrics)}
            except errors.ApiError as e:
                payload = {"available": False, "reason": unavailable_reason(e)}
        if payload != last:
            last = payload
            yield sse.event("usage", payload)
        await asyncio.sleep(settings.usage_period)
