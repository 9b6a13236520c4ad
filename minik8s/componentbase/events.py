"""Recording core/v1 Events about objects, deduplicated with a count like Kubernetes'."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors, times
from minik8s.api.meta import Object
from minik8s.api.resources import EVENTS
from minik8s.client.api import ApiClient
from minik8s.client.tasks import spawn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventKey:
    namespace: str
    kind: str
    name: str
    uid: str
    type: str
    reason: str
    message: str


def involved_object(obj: Object) -> Object:
    metadata = obj.get("metadata", {})
    ref = {
        "kind": obj.get("kind"),
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


class SpamFilter:
    """client-go's EventSourceObjectSpamFilter: a token bucket per involved object (`burst`
    events, then one more every `refill_seconds`); events beyond it are dropped."""

    def __init__(
        self,
        burst: int = 25,
        refill_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """Object uid → (tokens, when they were counted)."""

    def allow(self, uid: str) -> bool:
        now = self._clock()
        tokens, then = self._buckets.get(uid, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) / self.refill_seconds)
        if tokens < 1.0:
            self._buckets[uid] = (tokens, now)
            return False
        self._buckets[uid] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            full = [k for k, (t, _) in self._buckets.items() if t >= self.burst - 1]
            for key in full[:5_000]:
                del self._buckets[key]
        return True


class EventRecorder:
    """`record()` never blocks nor fails its caller; a background task writes the Events.

    The same (object, type, reason, message) within `dedup_window` seconds bumps `count`
    and `lastTimestamp` of the existing Event instead of creating another one.
    """

    def __init__(
        self,
        client: ApiClient,
        component: str,
        host: str | None = None,
        dedup_window: float = 600.0,
        queue_size: int = 1000,
        writers: int = 4,
        create: Callable[[str, Object], Awaitable[Any]] | None = None,
        spam_filter: SpamFilter | None = None,
    ) -> None:
        self.client = client
        self.spam_filter = spam_filter
        """Drops events beyond a per-object budget (the controller-manager's, like client-go's
        recorder: a Job of 1 000 pods records 25 `SuccessfulCreate`, not 1 000)."""
        self.component = component
        self.host = host
        self.dedup_window = dedup_window
        self.writers = writers
        self._create = create
        """POSTs a new Event to a collection path; default: the ApiClient. A component with a
        leaner HTTP pool for its hot path (the scheduler) passes its own."""
        """Events written concurrently; a burst (a scheduler binding thousands of pods) needs
        more than one request in flight."""
        # One queue per writer; the same event always goes to the same writer, so counting
        # repeats stays exact while different events are written in parallel.
        self._queues: list[asyncio.Queue[tuple[Object, str, str, str]]] = [
            asyncio.Queue(max(1, queue_size // writers)) for _ in range(writers)
        ]
        self._seen: dict[EventKey, tuple[str, int, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self._last_drop_warning = 0.0

    def record(self, obj: Object, type_: str, reason: str, message: str) -> None:
        uid = involved_object(obj).get("uid")
        if self.spam_filter is not None and not self.spam_filter.allow(str(uid)):
            return
        key = (uid, type_, reason, message)
        queue = self._queues[hash(key) % self.writers]
        try:
            queue.put_nowait((obj, type_, reason, message))
        except asyncio.QueueFull:
            # Events are best effort, as in Kubernetes; say so at most every 10 s.
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_warning > 10:
                self._last_drop_warning = now
                logger.warning("event queue full: %d events dropped so far", self.dropped)

    def start(self) -> None:
        self._tasks = [
            spawn(self._run(queue), name=f"{self.component}-events-{i}")
            for i, queue in enumerate(self._queues)
        ]

    async def stop(self, flush_seconds: float = 2.0) -> None:
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), flush_seconds)
        except TimeoutError:
            unwritten = sum(q.qsize() for q in self._queues)
            logger.info("stopping with %d events unwritten", unwritten)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self, queue: asyncio.Queue[tuple[Object, str, str, str]]) -> None:
        while True:
            obj, type_, reason, message = await queue.get()
            try:
                await self._write(obj, type_, reason, message)
            except errors.ApiError as e:
                logger.warning("could not record event %s: %s", reason, e)
            except Exception:
                logger.exception("could not record event %s", reason)
            finally:
                queue.task_done()

    async def _write(self, obj: Object, type_: str, reason: str, message: str) -> None:
        ref = involved_object(obj)
        namespace = ref.get("namespace") or "default"
        key = EventKey(namespace, ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""),
                       type_, reason, message)  # fmt: skip
        now = times.now_rfc3339()
        seen = self._seen.get(key)
        if seen is not None and time.monotonic() - seen[2] < self.dedup_window:
            name, count, _ = seen
            try:
                await self.client.patch(
                    EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                    namespace=namespace,
                )  # fmt: skip
                self._seen[key] = (name, count + 1, time.monotonic())
                return
            except errors.NotFound:
                pass
        name = f"{ref.get('name', 'object')}.{uuid.uuid4().hex[:16]}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "reportingComponent": self.component,
            "reportingInstance": self.host or "",
        }
        if self._create is not None:
            await self._create(EVENTS.collection_path(namespace), event)
        else:
            await self.client.create(EVENTS, event, namespace=namespace)
        self._seen[key] = (name, 1, time.monotonic())
        if len(self._seen) > 10_000:
            oldest = sorted(self._seen, key=lambda k: self._seen[k][2])[:5_000]
            for stale in oldest:
                del self._seen[stale]
