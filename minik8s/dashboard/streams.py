"""Watch-backed streams to the browser: list, then watch from the list's resourceVersion.

Each page's stream is one list and one watch against the apiserver with the user's client,
asking for `meta.k8s.io/v1` Tables (the apiserver's printers: the same columns as `kubectl
get`), relayed as SSE: `snapshot` (the Table), then `change` (`{type, object: Table}`) per
event. When the apiserver goes away the stream says `status: reconnecting`, retries with a
capped backoff, and resumes its watch from the last resourceVersion; a 410 Gone relists and
sends a new `snapshot`. A refusal (401/403/404) ends the stream with `failure` and the
apiserver's own Status message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.resources import ResourceType
from minik8s.client.api import ApiClient
from minik8s.client.tasks import cancel_and_wait, spawn
from minik8s.dashboard import sse

logger = logging.getLogger(__name__)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"


@dataclass(frozen=True)
class StreamSettings:
    watch_timeout: int = 300
    """Seconds each watch request lasts before it is renewed (from the last resourceVersion)."""
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    """Seconds between two attempts to reach an apiserver that went away."""
    keepalive: float = 15.0
    """Seconds of silence after which a comment is sent."""
    usage_period: float = 5.0
    """Seconds between two reads of the metrics API (it has no watch) for node usage."""


def table_resource_version(obj: dict[str, Any]) -> str | None:
    """The resourceVersion a Table watch event carries (its row's object, or its own)."""
    rows = obj.get("rows") or []
    if rows:
        row_meta = ((rows[0] or {}).get("object") or {}).get("metadata") or {}
        if row_meta.get("resourceVersion"):
            return str(row_meta["resourceVersion"])
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None


def failure(e: errors.ApiError, **extra: Any) -> bytes:
    return sse.event("failure", {"code": e.code, "reason": e.reason, "message": e.message, **extra})


async def table_stream(
    client: ApiClient,
    rt: ResourceType,
    namespace: str | None,
    label_selector: str | None,
    settings: StreamSettings,
) -> AsyncIterator[bytes]:
    """The SSE bytes of one page's live table; ends only on a refusal. Every event names its
    resource, so that one stream can carry every table of a page."""
    headers = {"Accept": TABLE}
    tag = {"resource": rt.plural}
    rv: str | None = None
    delay = settings.backoff_initial
    while True:
        try:
            if rv is None:
                table = await client.request(
                    "GET",
                    rt.collection_path(namespace),
                    params={"labelSelector": label_selector},
                    headers=headers,
                )
                rv = (table.get("metadata") or {}).get("resourceVersion") or "0"
                yield sse.event("snapshot", {**tag, "table": table})
            yield sse.event("status", {**tag, "state": "live"})
            delay = settings.backoff_initial
            watch = client.watch(
                rt, namespace, resource_version=rv, label_selector=label_selector,
                timeout_seconds=settings.watch_timeout, headers=headers,
            )  # fmt: skip
            async with watch:
                async for ev in watch:
                    rv = table_resource_version(ev.object) or rv
                    if ev.type != "BOOKMARK":
                        yield sse.event("change", {**tag, "type": ev.type, "object": ev.object})
        except (errors.Gone, errors.Expired):
            logger.info("watch %s: resourceVersion %s is too old, listing again", rt.plural, rv)
            rv = None
        except (errors.Unauthorized, errors.Forbidden, errors.NotFound, errors.BadRequest) as e:
            yield failure(e, **tag)
            return
        except errors.ApiError as e:
            yield sse.event("status", {**tag, "state": "reconnecting", "message": e.message})
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.backoff_max)


async def merged(sources: list[AsyncIterator[bytes]]) -> AsyncIterator[bytes]:
    """The chunks of every source as they come (one browser connection for a whole page:
    browsers open at most six HTTP/1.1 connections to one host)."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)

    async def pump(source: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in source:
                await queue.put(chunk)
        finally:
            await queue.put(None)

    tasks = [spawn(pump(s), f"stream {i}") for i, s in enumerate(sources)]
    running = len(tasks)
    try:
        while running:
            chunk = await queue.get()
            if chunk is None:
                running -= 1
            else:
                yield chunk
    finally:
        await cancel_and_wait(tasks)


async def with_keepalive(source: AsyncIterator[bytes], every: float) -> AsyncIterator[bytes]:
    """`source`'s chunks, and a comment whenever it is silent for `every` seconds."""
    iterator = aiter(source)
    pending: asyncio.Task[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield sse.KEEPALIVE
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
