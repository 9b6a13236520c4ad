"""What every controller shares: the context it runs in and the queue-and-workers loop.

A controller registers handlers on shared informers (which only enqueue keys), and a few
workers call `reconcile(key)` for each key, one worker per key at a time; a reconcile that
raises is retried with per-key exponential backoff (`WorkQueue.add_rate_limited`).
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors, meta
from minik8s.client import cache
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer, InformerFactory
from minik8s.client.workqueue import WorkQueue, run_workers
from minik8s.componentbase.events import EventRecorder
from minik8s.controllers import indexes
from minik8s.controllers.config import Settings

logger = logging.getLogger(__name__)

COMMON_INDEXERS: dict[str, cache.IndexFunc] = {
    cache.NAMESPACE_INDEX: cache.index_by_namespace,
    indexes.OWNER_INDEX: meta.owner_uids,
    indexes.CONTROLLER_INDEX: indexes.controller_uid,
    indexes.UID_INDEX: indexes.own_uid,
}


@dataclass
class Context:
    """What the manager hands every controller."""

    client: ApiClient
    informers: InformerFactory
    recorder: EventRecorder
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    def informer(self, rt: Any, **kwargs: Any) -> Informer:
        """The shared informer of `rt`, indexed by namespace, owner uid and controller uid."""
        return self.informers.informer(rt, indexers=COMMON_INDEXERS, **kwargs)


class Controller(abc.ABC):
    """A named work queue of `namespace/name` keys and the workers that reconcile them."""

    name: str = "controller"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder
        self.settings = ctx.settings
        self.queue = WorkQueue(name=self.name)
        self.workers = ctx.settings.workers.get(self.name, 1)
        self.register()

    @abc.abstractmethod
    def register(self) -> None:
        """Ask `ctx` for informers and add the event handlers (before they start)."""

    @abc.abstractmethod
    async def reconcile(self, key: str) -> None:
        """Make the world match the desired state of the object with this key."""

    def enqueue(self, obj: dict) -> None:
        self.queue.add(cache.object_key(obj))

    async def run(self) -> None:
        """Work until the queue shuts down (`stop()`)."""
        logger.info("%s controller: starting %d workers", self.name, self.workers)
        await run_workers(self.queue, self.reconcile, self.workers)

    def stop(self) -> None:
        self.queue.shutdown()


async def write_status(client: ApiClient, rt: Any, obj: dict, status: dict) -> dict:
    """PUT `status` onto `obj` (the cached version); on a conflict, onto a fresh read."""
    try:
        return await client.update_status(rt, {**obj, "status": status})
    except errors.Conflict:
        fresh = await client.get(rt, meta.name_of(obj), meta.namespace_of(obj) or None)
        if meta.uid_of(fresh) != meta.uid_of(obj):
            raise
        return await client.update_status(rt, {**fresh, "status": status})
