"""The Secrets and ConfigMaps the node's pods use, kept current by one watch per object.

Like the kubelet's watch-based object manager: a pod registers the objects it references,
each gets an informer on exactly that object (`fieldSelector=metadata.name=<name>` in its
namespace, which a node may read when one of its pods uses it); when one changes, the pods
using it are synced again (`on_change`), which updates their secret and configMap volumes in
place. A pod's removal releases its objects; an object no pod uses any more is unwatched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from minik8s.api import errors
from minik8s.api.meta import Object, namespace_of, uid_of
from minik8s.api.resources import CONFIGMAPS, SECRETS, ResourceType
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.kubelet import projected

logger = logging.getLogger(__name__)

SYNC_WAIT = 5.0
"""Seconds a lookup waits for a new watch's first list before reading the object directly."""
KINDS: dict[str, ResourceType] = {"secret": SECRETS, "configMap": CONFIGMAPS}

Ref = tuple[str, str, str]
"""(kind, namespace, name) with kind "secret" or "configMap"."""


class ObjectCache:
    def __init__(self, client: ApiClient, on_change: Callable[[str], None]) -> None:
        self.client = client
        self.on_change = on_change
        """Called with the uid of every pod using an object that changed."""
        self._informers: dict[Ref, Informer] = {}
        self._users: dict[Ref, set[str]] = {}
        self._pod_refs: dict[str, set[Ref]] = {}

    def register(self, pod: Object) -> None:
        """Watch what `pod` references now (and stop watching what it no longer does)."""
        uid, namespace = uid_of(pod), namespace_of(pod)
        wanted = {
            (kind, namespace, name) for kind in KINDS for name in projected.referenced(pod, kind)
        }
        for ref in self._pod_refs.get(uid, set()) - wanted:
            self._release(uid, ref)
        for ref in wanted:
            self._users.setdefault(ref, set()).add(uid)
            if ref not in self._informers:
                self._informers[ref] = self._watch(ref)
        self._pod_refs[uid] = wanted

    def unregister(self, uid: str) -> None:
        for ref in self._pod_refs.pop(uid, set()):
            self._release(uid, ref)

    async def objects(self, pod: Object, kind: str) -> dict[str, Object]:
        """The pod's referenced objects of `kind` that exist, by name."""
        self.register(pod)
        found = {}
        namespace = namespace_of(pod)
        for name in projected.referenced(pod, kind):
            obj = await self.get((kind, namespace, name))
            if obj is not None:
                found[name] = obj
        return found

    async def get(self, ref: Ref) -> Object | None:
        kind, namespace, name = ref
        informer = self._informers.get(ref)
        if informer is not None and await informer.wait_synced(SYNC_WAIT):
            return informer.store.get_by_key(f"{namespace}/{name}")
        try:  # not watched (yet): read it
            return await self.client.get(KINDS[kind], name, namespace)
        except errors.NotFound:
            return None

    async def close(self) -> None:
        informers = list(self._informers.values())
        self._informers.clear()
        await asyncio.gather(*(i.stop() for i in informers))

    def _watch(self, ref: Ref) -> Informer:
        kind, namespace, name = ref
        informer = Informer(
            self.client,
            KINDS[kind],
            namespace=namespace,
            field_selector=f"metadata.name={name}",
            name=f"{kind}s/{namespace}/{name}",
        )

        def changed(*_: Object) -> None:
            if informer.has_synced:  # not the first list: the pod's own sync reads that
                self._changed(ref)

        informer.add_event_handler(changed, changed, changed)
        informer.start()
        return informer

    def _changed(self, ref: Ref) -> None:
        for uid in self._users.get(ref, ()):
            self.on_change(uid)

    def _release(self, uid: str, ref: Ref) -> None:
        users = self._users.get(ref)
        if users is None:
            return
        users.discard(uid)
        if not users:
            del self._users[ref]
            informer = self._informers.pop(ref, None)
            if informer is not None:
                tasks.spawn(informer.stop(), f"stop informer {informer.name}")
