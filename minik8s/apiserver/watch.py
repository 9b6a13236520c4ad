"""Streaming watch responses: newline-delimited WatchEvents served from the watch cache."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.apiserver import metrics
from minik8s.apiserver.watchcache import CachedEvent, WatchCache, Watcher

logger = logging.getLogger(__name__)

Matcher = Callable[[Object], bool]
Transform = Callable[[Object], Object]


@dataclass(frozen=True)
class WatchRequest:
    resource: ResourceType
    namespace: str | None
    resource_version: str | None
    matches: Matcher | None
    node_name: str | None
    """An exact spec.nodeName asked for: lets the cache skip other nodes' pods early."""
    timeout_seconds: float | None
    allow_bookmarks: bool
    send_initial_events: bool
    transform: Transform | None
    """Turns an object into what is sent (a Table row for `kubectl get -w`)."""
    name: str | None = None
    """An exact metadata.name asked for (or the one object watched): the cache's name index."""


def encode_event(event_type: str, obj: Object) -> bytes:
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def filtered_type(event: CachedEvent, matches: Matcher | None) -> str | None:
    """The event type a filtered watcher sees, or None when the change is not its business.

    An object entering the selection is ADDED, one leaving it is DELETED, as in Kubernetes.
    """
    if matches is None:
        return event.type
    if event.type == "ADDED":
        return "ADDED" if matches(event.object) else None
    if event.type == "DELETED":
        return "DELETED" if matches(event.previous or event.object) else None
    was = event.previous is not None and matches(event.previous)
    now = matches(event.object)
    if was and now:
        return "MODIFIED"
    if now:
        return "ADDED"
    if was:
        return "DELETED"
    return None


def bookmark(resource: ResourceType, revision: int, initial_events_end: bool = False) -> bytes:
    metadata: Object = {"resourceVersion": str(revision)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return encode_event(
        "BOOKMARK",
        {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata},
    )


class WatchStream:
    """One watch: what to send first, then live events, bookmarks, and the end of the stream."""

    def __init__(
        self, cache: WatchCache, request: WatchRequest, bookmark_interval: float,
        default_timeout: float,
    ) -> None:  # fmt: skip
        self.cache = cache
        self.request = request
        self.bookmark_interval = bookmark_interval
        timeout = request.timeout_seconds
        if timeout is None:
            # Like Kubernetes: spread long watches so clients do not all reconnect at once.
            timeout = default_timeout * (1 + random.random())
        self.deadline = time.monotonic() + timeout
        self.watcher: Watcher | None = None
        self.initial: list[CachedEvent] | list[Object] = []
        self.sent = metrics.WATCH_EVENTS.labels(request.resource.plural)

    async def open(self) -> None:
        """Register with the cache; raises Expired (410) for a too old resourceVersion."""
        self.cache.check_serving()
        rv = self.request.resource_version
        since: int | None = None
        if rv and rv != "0":
            try:
                since = int(rv)
            except ValueError as e:
                raise errors.BadRequest(f'invalid resource version "{rv}"') from e
            await self.cache.wait_for_revision(since)
        self.watcher, self.initial = self.cache.add_watcher(
            self.request.resource, self.request.namespace, self.request.node_name, since,
            self.request.name,
        )  # fmt: skip

    def _line(self, event: CachedEvent) -> bytes | None:
        kind = filtered_type(event, self.request.matches)
        if kind is None:
            return None
        if self.request.transform is not None:
            return encode_event(kind, self.request.transform(event.object))
        line = event.encoded.get(kind)
        if line is None:
            line = event.encoded[kind] = encode_event(kind, event.object)
        return line

    async def lines(self) -> AsyncIterator[bytes]:
        assert self.watcher is not None
        req = self.request
        try:
            batch: list[bytes] = []
            for item in self.initial:
                if isinstance(item, CachedEvent):
                    line = self._line(item)
                    if line is not None:
                        batch.append(line)
                elif req.matches is None or req.matches(item):
                    obj = req.transform(item) if req.transform else item
                    batch.append(encode_event("ADDED", obj))
                if len(batch) >= 200:
                    self.sent.inc(len(batch))
                    yield b"".join(batch)
                    batch = []
            if batch:
                self.sent.inc(len(batch))
                yield b"".join(batch)
            if req.send_initial_events and req.allow_bookmarks:
                yield bookmark(req.resource, self.cache.revision, initial_events_end=True)
            async for line in self._live():
                yield line
        finally:
            self.cache.remove_watcher(req.resource, self.watcher)

    async def _live(self) -> AsyncIterator[bytes]:
        assert self.watcher is not None
        queue = self.watcher.queue
        next_bookmark = time.monotonic() + self.bookmark_interval
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                return
            if queue.empty():  # wait_for costs a task and a timer: only when there is nothing
                if self.request.allow_bookmarks and now >= next_bookmark:
                    # nothing waits for us: every change up to the cache's revision was sent
                    yield bookmark(self.request.resource, self.cache.revision)
                    next_bookmark = now + self.bookmark_interval
                wait = self.deadline - now
                if self.request.allow_bookmarks:
                    wait = min(wait, max(0.0, next_bookmark - now))
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    continue
            else:
                event = queue.get_nowait()
            if event is None:
                if self.watcher.overflowed:
                    logger.info("closing a %s watch that fell behind", self.request.resource.plural)
                return
            lines = []
            line = self._line(event)
            if line is not None:
                lines.append(line)
            while not queue.empty():  # send what is already waiting in one chunk
                more = queue.get_nowait()
                if more is None:
                    if lines:
                        self.sent.inc(len(lines))
                        yield b"".join(lines)
                    return
                line = self._line(more)
                if line is not None:
                    lines.append(line)
            if lines:
                self.sent.inc(len(lines))
                yield b"".join(lines)


def expired_event(error: errors.ApiError) -> bytes:
    return encode_event("ERROR", error.to_status())
