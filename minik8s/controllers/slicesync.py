"""What the EndpointSlice and EndpointSlice mirroring controllers share when they write slices:
remembering their own writes until the informer shows them, and making a plan's writes.

The informer may not yet show a slice a controller has just written: a sync that ran on that
stale view would create the slice a second time. As Kubernetes' endpointSliceTracker does, the
controller remembers the resourceVersion of each of its writes (or that it deleted the slice)
and does not sync that key until its informer has caught up; the event that catches it up
queues the key again."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTSLICES
from minik8s.client.api import ApiClient
from minik8s.client.workqueue import WorkQueue
from minik8s.controllers.endpointslice_plan import Writes

logger = logging.getLogger(__name__)

DELETED = -1


class SliceTracker:
    """Per key: the resourceVersion of each slice written (DELETED once deleted) that the
    informer has not shown yet."""

    def __init__(self) -> None:
        self._expected: dict[str, dict[str, int]] = {}
        self._waiting: set[str] = set()
        """Keys whose last sync found the informer behind: the next event must queue them."""

    def caught_up(self, key: str, slices: list[Object]) -> bool:
        """True once the informer shows every write made for `key`."""
        expected = self._expected.get(key)
        if not expected:
            return True
        seen = {meta.name_of(s): int(meta.resource_version_of(s) or 0) for s in slices}
        for name, version in list(expected.items()):
            if version == DELETED and name not in seen:
                del expected[name]
            elif version != DELETED and seen.get(name, 0) >= version:
                del expected[name]
        if not expected:
            del self._expected[key]
            self._waiting.discard(key)
            return True
        self._waiting.add(key)
        return False

    def should_sync(self, key: str, slice_: Object) -> bool:
        """False for the informer's event of a write of ours no sync waits for (Kubernetes'
        ShouldSync): it changes nothing the last sync did not know."""
        version = self._expected.get(key, {}).get(meta.name_of(slice_))
        own = version is not None and version == int(meta.resource_version_of(slice_) or 0)
        return key in self._waiting or not own

    def wrote(self, key: str, slice_: Object, deleted: bool = False) -> None:
        version = DELETED if deleted else int(meta.resource_version_of(slice_) or 0)
        self._expected.setdefault(key, {})[meta.name_of(slice_)] = version

    def gone(self, key: str, slice_: Object) -> None:
        """The informer saw the slice deleted (by us or anyone): nothing of it to wait for."""
        expected = self._expected.get(key)
        if expected is not None:
            expected.pop(meta.name_of(slice_), None)
            if not expected:
                del self._expected[key]

    def forget(self, key: str) -> None:
        self._expected.pop(key, None)
        self._waiting.discard(key)


async def write(
    client: ApiClient, queue: WorkQueue, tracker: SliceTracker, key: str, writes: Writes
) -> None:
    """Create, update, then delete the slices of `key` (a `<namespace>/<name>`), remembering
    each write; a conflict or a vanished slice means the informer is behind: `key` is queued
    again for a sync on a newer view. A terminating namespace refuses creates: logged, dropped."""
    if not writes:
        return
    namespace = key.partition("/")[0]
    try:
        for body in writes.create:
            tracker.wrote(key, await client.create(ENDPOINTSLICES, body, namespace))
        for body in writes.update:
            tracker.wrote(key, await client.update(ENDPOINTSLICES, body))
        for body in writes.delete:
            try:
                await client.delete(ENDPOINTSLICES, meta.name_of(body), namespace)
            except errors.NotFound:
                pass
            tracker.wrote(key, body, deleted=True)
    except (errors.Conflict, errors.NotFound):
        queue.add(key)
        return
    except errors.Forbidden as e:  # namespace terminating
        logger.info("%s %s: not written: %s", queue.name, key, e.message)
        return
    logger.info(
        "%s %s: %d endpointslices created, %d updated, %d deleted",
        queue.name, key, len(writes.create), len(writes.update), len(writes.delete),
    )  # fmt: skip
