"""`Informer`: a local cache of one collection, kept current by list + watch, with handlers.

List (from the apiserver's watch cache first: `resourceVersion=0`, as client-go's reflector),
then watch from the list's resourceVersion with bookmarks. A dropped watch resumes from
the last resourceVersion seen (bookmarks included) after a backoff; a 410 Expired/Gone relists
and reconciles the cache against the fresh list (`cache.diff_relist`). Handlers hear of each
change once and never twice: on_add(new), on_update(old, new), on_delete(last known object);
after a relist they hear the net change (like client-go, an object created and deleted while
the watch was down is not reported). Handlers may be plain functions or coroutines; they run
one at a time, in event order, after the cache is updated, so keep them short (enqueue a key).

A `transform` (client-go's `SetTransform`) turns each listed or watched object into what the
cache keeps: a component that needs a few fields of many objects keeps only those (it must
keep `metadata.name`, `namespace` and `resourceVersion`). `strip_managed_fields` is the one
kube-controller-manager and kube-scheduler give their informers: managedFields are about half
of a pod's JSON, and no controller reads them (an update without them keeps the stored ones).
`metadata_only` keeps what a metadata informer would (metrics-server's pods).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.resources import ResourceType
from minik8s.client import cache, exceptions, retries, tasks
from minik8s.client.api import ApiClient
from minik8s.client.watch import WatchEvent

logger = logging.getLogger(__name__)
TOO_LARGE_VERSION = "Too large resource version"
"""What a 504 says when the resourceVersion asked for is ahead of the apiserver's cache."""

AddHandler = Callable[[dict], Awaitable[None] | None]
UpdateHandler = Callable[[dict, dict], Awaitable[None] | None]
DeleteHandler = Callable[[dict], Awaitable[None] | None]
Transform = Callable[[dict], dict]


def strip_managed_fields(obj: dict) -> dict:
    """An informer transform: the object without `metadata.managedFields` (changed in place:
    the informer owns what it decoded)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


METADATA_KEPT = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "labels", "ownerReferences")  # fmt: skip


def metadata_only(obj: dict) -> dict:
    """An informer transform: what a metadata informer (client-go's `metadatainformer`) holds,
    the object's kind and identifying metadata, without spec, status, annotations or
    managedFields. metrics-server watches running pods this way."""
    metadata = obj.get("metadata") or {}
    kept = {key: metadata[key] for key in METADATA_KEPT if key in metadata}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept}


@dataclass(frozen=True)
class InformerSettings:
    watch_timeout_min: int = 300
    """Shortest `timeoutSeconds` asked of a watch; each watch picks one at random in range."""
    watch_timeout_max: int = 600
    """Longest `timeoutSeconds` asked of a watch."""
    backoff_base: float = 0.2
    """Seconds to wait after the first failed list or watch; doubled after each further one."""
    backoff_cap: float = 10.0
    """Longest wait between two attempts to list or watch."""
    short_watch: float = 1.0
    """A watch that ends cleanly this soon without any event counts as a failure."""


@dataclass(frozen=True)
class EventHandlers:
    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None


class Informer:
    """List + watch one collection into `store`; call the handlers on every change."""

    def __init__(
        self,
        client: ApiClient,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        indexers: Mapping[str, cache.IndexFunc] | None = None,
        name: str | None = None,
        settings: InformerSettings | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.client = client
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.settings = settings or InformerSettings()
        self.transform = transform
        self.name = name or (f"{rt.plural}/{namespace}" if namespace else rt.plural)
        self.store = cache.Indexer(indexers)
        self.lists = 0
        """Lists done so far (1 after the initial sync; more after each relist)."""
        self._handlers: list[EventHandlers] = []
        self._resource_version: str | None = None
        self._version_gone = False
        """The last resourceVersion was answered 410: the next list must be consistent."""
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    @property
    def last_resource_version(self) -> str | None:
        """The resourceVersion the next watch resumes from."""
        return self._resource_version

    def add_event_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        """Register handlers; do it before `start()`, so they see every object."""
        if self._tasks:
            raise RuntimeError(f"informer {self.name}: add event handlers before start()")
        self._handlers.append(EventHandlers(on_add, on_update, on_delete))

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(tasks.spawn(self._run(), f"informer {self.name}"))
        if self.resync_period:
            self._tasks.append(tasks.spawn(self._resync_loop(), f"informer {self.name} resync"))

    async def stop(self) -> None:
        await tasks.cancel_and_wait(self._tasks)
        self._tasks = []

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until the first list is in the cache; False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- the list/watch loop -------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0  # consecutive failures to list or watch
        expiries = 0  # consecutive 410s: relist at once the first time, then back off
        must_list = True
        while True:
            try:
                if must_list:
                    await self._list_and_reconcile()
                    must_list = False
                await self._watch()
                failures = expiries = 0
                continue
            except (errors.Expired, errors.Gone) as e:
                logger.info(
                    "informer %s: resourceVersion %s is too old (%s); relisting",
                    self.name, self._resource_version, e.message,
                )  # fmt: skip
                must_list, self._version_gone = True, True
                failures, expiries = 0, expiries + 1
                if expiries == 1:
                    continue
                attempt = expiries - 1
            except errors.ApiError as e:
                failures += 1
                attempt = failures
                logger.warning("informer %s: %s", self.name, e.message)
                if isinstance(e, errors.Timeout) and TOO_LARGE_VERSION in e.message:
                    # ahead of this apiserver (another one's, or etcd restored): as client-go
                    # after a ResourceVersionTooLarge, relist consistently
                    must_list, self._version_gone = True, True
            except _ShortWatch:
                failures += 1
                attempt = failures
            delay = retries.exponential_delay(
                self.settings.backoff_base, self.settings.backoff_cap, attempt
            )
            logger.info(
                "informer %s: retrying in %.1fs (attempt %d)", self.name, delay, attempt + 1
            )
            await asyncio.sleep(delay)

    def relist_resource_version(self) -> str | None:
        """The resourceVersion a list asks for, as client-go's reflector chooses it: "0" the
        first time (whatever the apiserver's watch cache holds, served at once: a thousand
        starting kubelets do not each wait for the cache to catch up with etcd, or read etcd),
        the last one seen after a failed watch, and a consistent read (unset) only after a
        410 said the last one is gone."""
        if self._version_gone:
            return None
        return self._resource_version or "0"

    async def _list_and_reconcile(self) -> None:
        listing = await self.client.list(
            self.rt, self.namespace,
            label_selector=self.label_selector, field_selector=self.field_selector,
            resource_version=self.relist_resource_version(),
        )  # fmt: skip
        self._version_gone = False
        items: list[dict] = listing.get("items") or []
        for item in items:  # list items carry no kind/apiVersion; watch events do
            item.setdefault("apiVersion", self.rt.api_version)
            item.setdefault("kind", self.rt.kind)
        if self.transform is not None:
            items = [self.transform(item) for item in items]
        diff = cache.diff_relist(self.store.items(), items)
        self.store.replace(items)
        self._resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        self.lists += 1
        logger.info(
            "informer %s: listed %d objects at resourceVersion %s "
            "(%d added, %d updated, %d deleted)",
            self.name, len(items), self._resource_version,
            len(diff.added), len(diff.updated), len(diff.deleted),
        )  # fmt: skip
        for obj in diff.deleted:
            await self._dispatch("delete", obj)
        for obj in diff.added:
            await self._dispatch("add", obj)
        for old, new in diff.updated:
            await self._dispatch("update", new, old)
        self._synced.set()

    async def _watch(self) -> None:
        s = self.settings
        timeout = random.randint(s.watch_timeout_min, max(s.watch_timeout_min, s.watch_timeout_max))
        loop = asyncio.get_running_loop()
        started = loop.time()
        events = 0
        stream = self.client.watch(
            self.rt, self.namespace,
            resource_version=self._resource_version or None,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=timeout, allow_bookmarks=True,
        )  # fmt: skip
        try:
            async with stream:
                async for event in stream:
                    events += 1
                    await self._apply(event)
        except exceptions.StreamBroken as e:  # the apiserver went away: watch again, as client-go
            logger.info(
                "informer %s: watch ended after %d events (%s); watching again from "
                "resourceVersion %s", self.name, events, e.message, self._resource_version,
            )  # fmt: skip
        if events == 0 and loop.time() - started < s.short_watch:
            raise _ShortWatch()
        logger.debug("informer %s: watch ended after %d events", self.name, events)

    async def _apply(self, event: WatchEvent) -> None:
        if self.transform is not None and event.type != "BOOKMARK":
            event = dataclasses.replace(event, object=self.transform(event.object))
        change = apply_event(self.store, event)
        if event.resource_version:
            self._resource_version = event.resource_version
        if change is not None:
            what, old = change
            await self._dispatch(what, event.object, old)

    async def _resync_loop(self) -> None:
        assert self.resync_period
        await self._synced.wait()
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in self.store.list():
                await self._dispatch("update", obj, obj)

    async def _dispatch(self, what: str, obj: dict, old: dict | None = None) -> None:
        for handlers in self._handlers:
            handler: Callable[..., Any] | None
            args: tuple[Any, ...]
            if what == "add":
                handler, args = handlers.on_add, (obj,)
            elif what == "update":
                handler, args = handlers.on_update, (old, obj)
            else:
                handler, args = handlers.on_delete, (obj,)
            if handler is None:
                continue
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception(
                    "informer %s: %s handler failed for %s", self.name, what, cache.object_key(obj)
                )


def apply_event(store: cache.Indexer, event: WatchEvent) -> tuple[str, dict | None] | None:
    """Apply one watch event to the cache; return the handler call it makes, if any.

    The result is `("add", None)`, `("update", old)` or `("delete", old)`; None when the event
    changes nothing: a bookmark, a version already cached (a replay), a delete of an unknown key.
    """
    if event.type == "BOOKMARK":
        return None
    key = cache.object_key(event.object)
    old = store.get_by_key(key)
    if event.type == "DELETED":
        return ("delete", store.delete(key)) if old is not None else None
    if old is not None and cache.resource_version(old) == event.resource_version:
        return None
    store.upsert(event.object)
    return ("add", None) if old is None else ("update", old)


class _ShortWatch(Exception):
    """A watch closed at once without events; back off before the next one."""


class InformerFactory:
    """One informer per (type, namespace, selectors), shared by every controller that asks."""

    def __init__(
        self,
        client: ApiClient,
        *,
        resync_period: float | None = None,
        settings: InformerSettings | None = None,
        transform: Transform | None = None,
    ) -> None:
        """`transform`: given to every informer (client-go's `informers.WithTransform`)."""
        self.client = client
        self.resync_period = resync_period
        self.settings = settings
        self.transform = transform
        self._informers: dict[tuple[Any, ...], Informer] = {}

    def informer(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, cache.IndexFunc] | None = None,
        transform: Transform | None = None,
    ) -> Informer:
        """The shared informer of this collection; `transform` (else the factory's) applies
        when it is first made (client-go's metadata informers are a factory of their own)."""
        key = (rt, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client, rt, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_period=self.resync_period,
                settings=self.settings, transform=transform or self.transform,
            )  # fmt: skip
            self._informers[key] = informer
        if indexers:
            new = {n: f for n, f in indexers.items() if n not in informer.store.index_names()}
            informer.store.add_indexers(new)
        return informer

    def start(self) -> None:
        for informer in self._informers.values():
            informer.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
