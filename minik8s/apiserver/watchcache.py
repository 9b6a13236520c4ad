"""The apiserver's watch cache: current objects and recent events of every resource, in memory.

One etcd watch over `/registry/` feeds every resource type. Because every write of the
apiserver lands under `/registry/`, each etcd revision arrives here as an event, so the
cache's `revision` is exact: a list or watch asking for resourceVersion N waits until the
cache has seen N, then is served from memory. etcd sees one watch however many clients
watch, and lists with or without a resourceVersion never range over etcd.

Each resource's ring of recent events is sized as Kubernetes' watch cache sizes its own: it
keeps the events of the last `EVENT_FRESH_SECONDS` (75 s, Kubernetes' eventFreshDuration), at
least the newest `LOWER_BOUND` (100) and at most `capacity`; a watch from an older revision
gets 410 Gone and its informer relists, as in Kubernetes (informers ask for bookmarks, so their
revision stays current even when none of the events are theirs). Successive versions of an
object share their unchanged parts (`sharing.share_unchanged`), and the encoded watch lines of
an event are dropped once `ENCODED_WINDOW` newer events followed it (a watcher that far behind
encodes it again): the ring holds what changed, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from minik8s.api import errors as api_errors
from minik8s.api.meta import Object
from minik8s.api.resources import RESOURCES, ResourceType, is_storage_version
from minik8s.apiserver.encodedmap import EncodedObjects
from minik8s.apiserver.revisionwaiters import RevisionWaiters
from minik8s.apiserver.sharing import share_unchanged
from minik8s.store import errors as store_errors
from minik8s.store.etcd import EtcdStore, StoreEvent

logger = logging.getLogger(__name__)

EVENT_FRESH_SECONDS = 75.0
"""Events younger than this stay in the ring (up to its capacity): eventFreshDuration."""
LOWER_BOUND = 100
"""The newest events kept however old they are: Kubernetes' defaultLowerBoundCapacity."""
ENCODED_WINDOW = 256
"""Events that keep their encoded watch lines once newer events followed them."""
ENCODED_RESOURCES = frozenset({"events"})
"""Resources whose current objects the cache keeps as JSON bytes (`encodedmap`)."""
TRIM_PERIOD = 1.0
"""How often the cache's trim task has every ring (quiet ones too: an event's own ring drops
its stale events as it lands) drop its stale events."""


@dataclass
class CachedEvent:
    type: str  # ADDED, MODIFIED, DELETED
    revision: int
    object: Object
    previous: Object | None
    namespace: str | None
    recorded: float = 0.0
    """When the cache applied it (monotonic seconds)."""
    encoded: dict[str, bytes] = field(default_factory=dict)
    """Serialized watch lines by event type, shared by every watcher that sends them."""


class Watcher:
    """One client watch: a bounded queue of events the cache pushes to.

    `node_name` (a pod's `spec.nodeName=`) and `name` (`metadata.name=`, or a watch of one
    object) are exact values of its selector the cache indexes it by."""

    def __init__(
        self, namespace: str | None, node_name: str | None, capacity: int, name: str | None = None
    ) -> None:
        self.namespace = namespace
        self.node_name = node_name
        self.name = name
        self.queue: asyncio.Queue[CachedEvent | None] = asyncio.Queue()
        self.capacity = capacity
        self.closed = False
        self.overflowed = False

    def wants(self, event: CachedEvent) -> bool:
        if self.namespace is not None and event.namespace != self.namespace:
            return False
        if self.name is not None and _name(event.object) != self.name:
            return False
        if self.node_name is not None:
            return self.node_name in (_node_name(event.object), _node_name(event.previous))
        return True

    def push(self, event: CachedEvent) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.capacity:
            # A client too slow to keep up is cut off; it resumes from its last revision.
            self.overflowed = True
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


def _name(obj: Object) -> str | None:
    metadata = obj.get("metadata")
    return metadata.get("name") if isinstance(metadata, dict) else None


def _node_name(obj: Object | None) -> str | None:
    if obj is None:
        return None
    spec = obj.get("spec")
    return spec.get("nodeName") if isinstance(spec, dict) else None


class ResourceCache:
    """The objects of one resource type and a ring of its recent events."""

    def __init__(
        self,
        resource: ResourceType,
        capacity: int,
        fresh_seconds: float = EVENT_FRESH_SECONDS,
        encoded: bool = False,
    ) -> None:
        self.resource = resource
        self.encoded = encoded
        self.objects: MutableMapping[str, Object] = EncodedObjects() if encoded else {}
        self.capacity = capacity
        self.lower_bound = min(LOWER_BOUND, capacity)
        self.fresh_seconds = fresh_seconds
        self.events: deque[CachedEvent] = deque()
        self.oldest_revision = 0
        """Watches may start from any revision >= this (events after it are all in the ring)."""
        self.watchers: set[Watcher] = set()
        self._by_node: dict[str, set[Watcher]] = {}
        """Watchers of one node's pods (`spec.nodeName=`, every kubelet's), by node: an event
        visits only its node's (Kubernetes' watch cache indexes pods by nodeName too)."""
        self._by_name: dict[str, set[Watcher]] = {}
        """Watchers of one object by name (`metadata.name=`: every kubelet watches its own
        Node so): an event visits only its object's, not all of them (Kubernetes' cacher
        triggers on `metadata.name` for Nodes the same way)."""
        self._unindexed: set[Watcher] = set()

    def _index_of(self, watcher: Watcher) -> tuple[dict[str, set[Watcher]], str] | None:
        if watcher.node_name is not None:
            return self._by_node, watcher.node_name
        if watcher.name is not None:
            return self._by_name, watcher.name
        return None

    def add_watcher(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        index = self._index_of(watcher)
        if index is None:
            self._unindexed.add(watcher)
        else:
            index[0].setdefault(index[1], set()).add(watcher)

    def discard_watcher(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)
        index = self._index_of(watcher)
        if index is None:
            self._unindexed.discard(watcher)
            return
        by_value, value = index
        same = by_value.get(value)
        if same is not None:
            same.discard(watcher)
            if not same:
                del by_value[value]

    def clear_watchers(self) -> None:
        for watcher in list(self.watchers):
            watcher.close()
        self.watchers.clear()
        self._by_node.clear()
        self._by_name.clear()
        self._unindexed.clear()

    def reset(self, objects: dict[str, Object], revision: int) -> None:
        self.objects = EncodedObjects(objects) if self.encoded else objects
        self.events.clear()
        self.oldest_revision = revision
        self.clear_watchers()

    def apply(self, event: StoreEvent) -> None:
        previous = self.objects.get(event.key)
        if event.type == "PUT":
            assert event.value is not None
            obj = event.value
            if previous is not None:
                obj = share_unchanged(obj, previous)
            self.objects[event.key] = obj
            kind = "MODIFIED" if previous is not None else "ADDED"
        else:
            if previous is None:
                return
            del self.objects[event.key]
            obj = dict(previous)
            obj["metadata"] = {
                **previous.get("metadata", {}),
                "resourceVersion": str(event.revision),
            }
            kind = "DELETED"
        namespace = obj.get("metadata", {}).get("namespace")
        now = time.monotonic()
        cached = CachedEvent(kind, event.revision, obj, previous, namespace, now)
        self.events.append(cached)
        if len(self.events) > ENCODED_WINDOW:
            self.events[-ENCODED_WINDOW - 1].encoded.clear()
        self.trim(now)
        self._push(cached, self._unindexed)
        if self._by_name:
            same_name = self._by_name.get(_name(obj) or "")
            if same_name is not None:
                self._push(cached, same_name)
        if self._by_node:
            nodes = {_node_name(obj), _node_name(previous)}
            for node in nodes:
                if node is not None and node in self._by_node:
                    self._push(cached, self._by_node[node])

    def _push(self, cached: CachedEvent, watchers: set[Watcher]) -> None:
        for watcher in list(watchers):
            if watcher.closed:
                self.discard_watcher(watcher)
            elif watcher.wants(cached):
                watcher.push(cached)

    def trim(self, now: float) -> None:
        """Drop the events past the capacity, and those older than the fresh window beyond
        the lower bound; watches from before them get 410."""
        events = self.events
        stale = now - self.fresh_seconds
        while len(events) > self.capacity or (
            len(events) > self.lower_bound and events[0].recorded < stale
        ):
            self.oldest_revision = events.popleft().revision

    def snapshot(self, namespace: str | None) -> list[Object]:
        if namespace is None:
            return [self.objects[k] for k in sorted(self.objects)]
        prefix = self.resource.storage_namespace_prefix(namespace)
        return [self.objects[k] for k in sorted(self.objects) if k.startswith(prefix)]

    def events_after(self, revision: int) -> list[CachedEvent]:
        if revision < self.oldest_revision:
            raise api_errors.Expired(
                f"too old resource version: {revision} ({self.oldest_revision})"
            )
        return [e for e in self.events if e.revision > revision]


class RestoreDetected(Exception):
    """etcd is not the history the cache followed: its revision went back, or its cluster ID
    changed (a restore from a snapshot, or another etcd on the same address)."""


class WatchCache:
    """Keeps every ResourceCache current from one etcd watch over `/registry/`.

    A supervisor task owns the watch: an event that cannot be applied is logged and skipped,
    any other failure of the loop is logged and the cache relists and resumes (backing off),
    and `ready` (what `/readyz` and every list and watch check) is clear until the cache
    holds a complete, current view again. After an etcd restore the cache refuses to serve
    (503) until it has relisted, so clients never see a view newer than the store.
    """

    def __init__(
        self,
        store: EtcdStore,
        capacity: int = 10_000,
        watcher_capacity: int = 10_000,
        resync_wait: float = 3.0,
    ) -> None:
        self.store = store
        self.watcher_capacity = watcher_capacity
        self.resync_wait = resync_wait
        self.caches = {
            r.plural: ResourceCache(r, capacity, encoded=r.plural in ENCODED_RESOURCES)
            for r in RESOURCES
            if is_storage_version(r)
        }
        self.revision = 0
        self._waiters = RevisionWaiters()
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._cluster_id: int | None = None
        """The etcd cluster ID the cache listed from."""
        self.ready = asyncio.Event()
        self.restarts = 0
        """How many times the watch loop failed and was restarted (for metrics and tests)."""
        self.skipped_events = 0
        """Events that could not be applied (undecodable values, failing callbacks)."""
        self.on_event: list[Callable[[ResourceType, str, Object, Object | None], None]] = []
        """Called with (resource, "PUT" | "DELETE", object, previous) for every change."""
        self.on_reset: list[Callable[[], None]] = []
        """Called after a relist replaced every cache (no on_event calls for it)."""
        self._trimmer: asyncio.Task[None] | None = None

    def cache(self, resource: ResourceType) -> ResourceCache:
        return self.caches[resource.plural]

    async def start(self, timeout: float | None = None) -> None:
        """Start the supervisor and wait for the first complete list (forever by default:
        etcd may still be starting)."""
        self._task = asyncio.create_task(self._supervise(), name="watch-cache")
        self._task.add_done_callback(_log_crash)
        self._trimmer = asyncio.create_task(self._trim_periodically(), name="watch-cache-trim")
        self._trimmer.add_done_callback(_log_crash)
        async with asyncio.timeout(timeout):
            await self.ready.wait()

    async def stop(self) -> None:
        for task in (self._task, self._trimmer):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._task = self._trimmer = None
        self.close_watchers()

    async def _trim_periodically(self) -> None:
        """Every TRIM_PERIOD, every ring drops its stale events (quiet resources age out)."""
        while True:
            await asyncio.sleep(TRIM_PERIOD)
            self.trim(time.monotonic())

    def trim(self, now: float) -> None:
        for cache in self.caches.values():
            cache.trim(now)

    def check_serving(self) -> None:
        """503 while the cache is not a complete, current view (relisting)."""
        if not self.ready.is_set():
            raise api_errors.ServiceUnavailable(
                "the apiserver's watch cache is not ready (relisting from etcd); retry shortly",
                retry_after_seconds=1,
            )

    def relist_soon(self, reason: str) -> None:
        """Stop serving and relist (called when a check finds etcd restored)."""
        if self.ready.is_set():
            logger.warning("watch cache: %s; relisting before serving again", reason)
        self.ready.clear()
        if self._follower is not None and not self._follower.done():
            self._follower.cancel()

    async def _relist(self) -> None:
        items, revision = await self.store.list("/registry/")
        by_resource: dict[str, dict[str, Object]] = {plural: {} for plural in self.caches}
        for item in items:
            parts = item.key.split("/", 3)
            if len(parts) > 2 and parts[2] in by_resource:
                by_resource[parts[2]][item.key] = item.value
        for plural, cache in self.caches.items():
            cache.reset(by_resource[plural], revision)
        self._cluster_id = self.store.cluster_id
        went_back = revision < self.revision
        self.revision = revision  # may go back, after a restore
        self._waiters.advance(revision)
        for callback in self.on_reset:
            callback()
        self.ready.set()
        logger.info(
            "watch cache listed %d objects at revision %d%s",
            len(items),
            revision,
            " (etcd's history went back: restored)" if went_back else "",
        )

    async def _supervise(self) -> None:
        delay, needs_list = 0.1, True
        while True:
            try:
                if needs_list:
                    await self._relist()
                    needs_list = False
                self._follower = asyncio.create_task(self._follow(), name="watch-cache-follow")
                try:
                    await asyncio.shield(self._follower)
                except asyncio.CancelledError:
                    if not self._follower.cancelled():
                        self._follower.cancel()  # the supervisor itself is being stopped
                        raise
                    needs_list = True  # relist_soon() stopped the follower
                    continue
            except store_errors.Compacted as e:
                logger.warning("etcd compacted past the watch cache (%s); relisting", e)
                needs_list = True
                continue
            except RestoreDetected as e:
                self.relist_soon(str(e))
                needs_list = True
                continue
            except store_errors.StoreError as e:  # logged once by the store while etcd is down
                logger.debug("watch cache: %s; retrying in %.1fs", e, delay)
            except Exception:
                self.restarts += 1
                logger.exception("watch cache loop failed; relisting in %.1fs", delay)
                self.ready.clear()
                needs_list = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _follow(self) -> None:
        """Watch from the cache's revision on; returns only by raising."""
        seen = self.revision
        current = await self.store.current_revision()
        self._check_same_history(current, seen)
        previous = 0  # the revision of this watch's last event
        async for event in self.store.watch("/registry/", self.revision + 1):
            # one transaction's keys share its revision (a Service and its address keys)
            repeated = event.revision == self.revision == previous
            if event.revision <= self.revision and event.type != "PROGRESS" and not repeated:
                raise RestoreDetected(f"etcd sent revision {event.revision} after {self.revision}")
            previous = event.revision
            try:
                self._dispatch(event)
            except Exception:
                self.skipped_events += 1
                logger.exception(
                    "watch cache: skipping %s %s at revision %d", event.type, event.key,
                    event.revision,
                )  # fmt: skip
            await self._advance(event.revision)
        raise store_errors.StoreUnavailable("the etcd watch ended")

    def _check_same_history(self, current_revision: int, seen: int) -> None:
        """`current_revision` was read from etcd after the cache had seen revision `seen`
        (never the other way round: the cache may move on during the read); less than that
        means etcd's history went back."""
        cluster_id = self.store.cluster_id
        if self._cluster_id is not None and cluster_id not in (None, self._cluster_id):
            raise RestoreDetected(f"etcd's cluster ID is {cluster_id:x}, not {self._cluster_id:x}")
        if current_revision < seen:
            raise RestoreDetected(
                f"etcd's revision {current_revision} is behind the cache's {seen}"
            )

    def _dispatch(self, event: StoreEvent) -> None:
        parts = event.key.split("/", 3)
        cache = self.caches.get(parts[2]) if len(parts) > 2 else None
        if cache is None or event.type in ("UNREADABLE", "PROGRESS"):
            return  # not a resource, or nothing to apply: the revision still counts (_follow)
        previous = cache.objects.get(event.key)
        cache.apply(event)
        for callback in self.on_event:
            obj = event.value if event.value is not None else previous
            if obj is not None:
                callback(cache.resource, event.type, obj, previous)

    async def _advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            self._waiters.advance(revision)

    async def wait_for_revision(self, revision: int, timeout: float | None = None) -> None:
        """Return once the cache has seen `revision`; 504 Timeout if it does not in time."""
        if self.revision >= revision:
            return
        reached = self._waiters.add(revision)
        try:
            async with asyncio.timeout(timeout or self.resync_wait):
                await reached
        except asyncio.CancelledError:
            self._waiters.abandon()  # the client went away
            raise
        except TimeoutError as e:
            self._waiters.abandon()
            raise api_errors.Timeout(
                f"Too large resource version: {revision}, current: {self.revision}",
                retry_after_seconds=1,
            ) from e

    async def wait_fresh(self) -> None:
        """Wait until the cache reflects every write committed before this call (503 while
        it relists; a restored etcd found here makes it relist)."""
        self.check_serving()
        seen = self.revision
        current = await self.store.current_revision()
        try:
            self._check_same_history(current, seen)
        except RestoreDetected as e:
            self.relist_soon(str(e))
            self.check_serving()
        await self.wait_for_revision(current)

    def add_watcher(
        self,
        resource: ResourceType,
        namespace: str | None,
        node_name: str | None,
        since: int | None,
        name: str | None = None,
    ) -> tuple[Watcher, list[CachedEvent] | list[Object]]:
        """Register a watcher and return what it must send first, atomically.

        With `since` None: the current objects (sent as synthetic ADDED events); otherwise
        the events after revision `since` (410 Expired when they are no longer held).
        """
        cache = self.cache(resource)
        initial: list[CachedEvent] | list[Object]
        watcher = Watcher(namespace, node_name, self.watcher_capacity, name)
        if since is None:
            initial = cache.snapshot(namespace)
        else:  # the replay is filtered as the live events are (namespace, node, name)
            initial = [e for e in cache.events_after(since) if watcher.wants(e)]
        cache.add_watcher(watcher)
        return watcher, initial

    def remove_watcher(self, resource: ResourceType, watcher: Watcher) -> None:
        watcher.closed = True
        self.cache(resource).discard_watcher(watcher)

    def close_watchers(self) -> None:
        for cache in self.caches.values():
            cache.clear_watchers()

    def watcher_count(self) -> int:
        return sum(len(c.watchers) for c in self.caches.values())


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s crashed", task.get_name(), exc_info=task.exception())
