"""The API client's own Prometheus metrics: how long its requests took as the client saw them,
and what it waited for a connection (what the apiserver's request duration cannot show).

`rest_client_request_duration_seconds{verb,host}` is client-go's name, labels and buckets; it
covers ordinary requests (not watches or other streams), from the send to the body read, one
observation per attempt. `rest_client_connection_wait_seconds{stage}` is a minik8s addition:
`pool` is a request's wait for a free connection of its pool (all `max_connections` busy),
`connect` the opening of a new one (TCP and the TLS handshake).
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from prometheus_client import Histogram

REQUEST_LATENCY = Histogram(
    "rest_client_request_duration_seconds",
    "Request latency in seconds, by verb and host (ordinary requests, one per attempt).",
    ["verb", "host"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
CONNECTION_WAIT = Histogram(
    "rest_client_connection_wait_seconds",
    "A minik8s addition: seconds an ordinary request waited for a free connection of its "
    "pool (stage=pool) or for a new connection to open, TLS handshake included (stage=connect).",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_POOL = CONNECTION_WAIT.labels("pool")
_CONNECT = CONNECTION_WAIT.labels("connect")


def connection_tracing() -> aiohttp.TraceConfig:
    """An aiohttp trace that observes `CONNECTION_WAIT` for the session it is given to."""
    trace = aiohttp.TraceConfig()

    async def queued(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.queued = time.perf_counter()

    async def dequeued(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        _POOL.observe(time.perf_counter() - ctx.queued)

    async def connecting(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        ctx.connecting = time.perf_counter()

    async def connected(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
        _CONNECT.observe(time.perf_counter() - ctx.connecting)

    trace.on_connection_queued_start.append(queued)
    trace.on_connection_queued_end.append(dequeued)
    trace.on_connection_create_start.append(connecting)
    trace.on_connection_create_end.append(connected)
    trace.freeze()
    return trace
