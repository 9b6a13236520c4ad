"""The watch cache's ring: versions share their unchanged parts, and it is sized as Kubernetes
sizes its own (a fresh window, a lower bound, a capacity)."""

from __future__ import annotations

import asyncio
import copy
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from minik8s.api import errors
from minik8s.api.resources import EVENTS, PODS
from minik8s.apiserver import watchcache
from minik8s.apiserver.encodedmap import EncodedObjects
from minik8s.apiserver.registry import Registry, RegistrySettings
from minik8s.apiserver.sharing import share_unchanged
from minik8s.apiserver.watchcache import ResourceCache
from minik8s.store.etcd import StoredObject, StoreEvent
from tests.support.waiting import async_wait_for


def pod(rv: int, phase: str = "Pending", node: str = "") -> dict:
    return {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "resourceVersion": str(rv),
            "labels": {"app": "web"},
            "managedFields": [
                {"manager": "kcm", "fieldsV1": {"f:spec": {}}},
                {"manager": "kubelet", "fieldsV1": {"f:status": {"f:phase": {}}}},
            ],
        },
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "hollow:1"}]},
        "status": {"phase": phase},
    }


def test_a_new_version_shares_what_did_not_change() -> None:
    old = pod(1, node="n1")
    new = share_unchanged(pod(2, "Running", node="n1"), old)
    assert new == pod(2, "Running", node="n1")  # the value is the new version's
    assert new["spec"] is old["spec"]
    assert new["metadata"]["labels"] is old["metadata"]["labels"]
    assert new["metadata"]["managedFields"] is old["metadata"]["managedFields"]
    assert new["metadata"] is not old["metadata"]  # its resourceVersion changed
    assert new["status"] is not old["status"]
    assert old == pod(1, node="n1")  # the old version is untouched


def test_changed_lists_share_their_equal_items_and_equal_objects_are_the_old_one() -> None:
    old = pod(1)
    changed = copy.deepcopy(old)
    changed["metadata"]["managedFields"][1]["fieldsV1"] = {"f:status": {"f:podIP": {}}}
    new = share_unchanged(changed, old)
    assert new["metadata"]["managedFields"] is not old["metadata"]["managedFields"]
    assert new["metadata"]["managedFields"][0] is old["metadata"]["managedFields"][0]
    assert share_unchanged(copy.deepcopy(old), old) is old
    assert share_unchanged({"a": 1}, {"a": "1"}) == {"a": 1}  # equal only with the same type
    assert share_unchanged({"a": [1]}, {"a": {"0": 1}}) == {"a": [1]}


def put(rv: int, phase: str = "Pending") -> StoreEvent:
    return StoreEvent("PUT", "/registry/pods/ns/p", pod(rv, phase), rv)


def test_the_cache_stores_shared_versions_and_keeps_each_event_right() -> None:
    cache = ResourceCache(PODS, capacity=100)
    cache.apply(put(1))
    cache.apply(put(2, "Running"))
    first, second = cache.events
    assert (first.type, second.type) == ("ADDED", "MODIFIED")
    assert second.previous is first.object
    assert second.object["spec"] is first.object["spec"]
    assert first.object["status"] == {"phase": "Pending"}
    assert second.object == pod(2, "Running")


def test_events_older_than_the_fresh_window_go_beyond_the_lower_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(watchcache.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(watchcache, "LOWER_BOUND", 3)
    cache = ResourceCache(PODS, capacity=10, fresh_seconds=75.0)
    for rv in range(1, 6):
        cache.apply(put(rv))
    assert [e.revision for e in cache.events] == [1, 2, 3, 4, 5]  # all fresh
    now[0] += 80.0
    cache.apply(put(6))  # 1..5 are stale: the newest 3 stay
    assert [e.revision for e in cache.events] == [4, 5, 6]
    assert cache.events_after(3) and [e.revision for e in cache.events_after(4)] == [5, 6]
    with pytest.raises(errors.Expired):
        cache.events_after(2)
    for rv in range(7, 20):  # fresh, but the capacity still bounds the ring
        cache.apply(put(rv))
    assert [e.revision for e in cache.events] == list(range(10, 20))
    assert cache.oldest_revision == 9


def test_only_the_newest_events_keep_their_encoded_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "ENCODED_WINDOW", 2)
    cache = ResourceCache(PODS, capacity=10)
    for rv in range(1, 5):
        cache.apply(put(rv))
        cache.events[-1].encoded["MODIFIED"] = b"line"
    assert [bool(e.encoded) for e in cache.events] == [False, False, True, True]


class LaggingStore:
    """etcd at revision 100, while the cache (never fed) stays at 0."""

    cluster_id = None

    async def current_revision(self) -> int:
        return 100

    async def list(self, prefix: str) -> tuple[list[StoredObject], int]:
        assert prefix == "/registry/pods/ns/"
        items = [pod(90, "Running"), {**pod(91), "metadata": {"name": "q", "namespace": "ns"}}]
        return [StoredObject(f"{prefix}{o['metadata']['name']}", o, 90) for o in items], 100


async def test_a_consistent_list_falls_back_to_etcd_when_the_cache_lags() -> None:
    store: Any = LaggingStore()
    cache = watchcache.WatchCache(store, resync_wait=0.01)
    cache.ready.set()
    registry = Registry(store, cache, RegistrySettings())
    running = await registry.list(PODS, "ns", lambda o: o["status"]["phase"] == "Running", None)
    assert running == ([pod(90, "Running")], 100)  # etcd's objects and revision, filtered
    assert await registry.list(PODS, "ns", None, "0") == ([], 0)  # "0": whatever the cache has
    with pytest.raises(errors.Timeout):  # an exact revision still waits for the cache, as in k8s
        await registry.list(PODS, "ns", None, "100")


def test_events_are_cached_as_bytes_and_read_back_whole() -> None:
    cache = watchcache.WatchCache(LaggingStore()).cache(EVENTS)  # type: ignore[arg-type]
    assert isinstance(cache.objects, EncodedObjects)
    event = {"metadata": {"name": "e", "namespace": "ns", "resourceVersion": "3"}, "count": 1}
    cache.apply(StoreEvent("PUT", "/registry/events/ns/e", event, 3))
    bumped = {**event, "metadata": {**event["metadata"], "resourceVersion": "4"}, "count": 2}
    cache.apply(StoreEvent("PUT", "/registry/events/ns/e", bumped, 4))
    assert cache.objects["/registry/events/ns/e"] == bumped
    assert cache.objects.get("/registry/events/ns/e") is not cache.objects.get(
        "/registry/events/ns/e"
    )  # a fresh copy each time
    assert cache.snapshot("ns") == [bumped] and cache.snapshot("other") == []
    assert [(e.type, e.object["count"]) for e in cache.events] == [("ADDED", 1), ("MODIFIED", 2)]
    assert cache.events[-1].previous == event
    cache.apply(StoreEvent("DELETE", "/registry/events/ns/e", None, 5))
    assert len(cache.objects) == 0 and cache.events[-1].type == "DELETED"
    cache.reset({"/registry/events/ns/f": event}, 6)
    assert isinstance(cache.objects, EncodedObjects) and list(cache.objects) == [
        "/registry/events/ns/f"
    ]


def test_cached_events_take_their_own_length_not_the_encoders_buffer() -> None:
    """orjson >= 3.12 returns each encoding in its grown buffer (4 KiB or more for a 1 KB
    Event): what the cache keeps is copied to its exact size."""
    events = EncodedObjects()
    event = {
        "metadata": {"name": "e", "namespace": "ns", "resourceVersion": "3"},
        "message": "Successfully assigned density/d0-5d4b8cfc49-27lbw to hollow-node-11" * 12,
    }
    length = len(orjson.dumps(event))
    tracemalloc.start()
    try:
        for i in range(200):
            events[f"/registry/events/ns/e{i}"] = event
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 200 * (length + 200), (held / 200, length)  # bytes header, dict slot
    assert events["/registry/events/ns/e7"] == event


class QuietStore:
    """etcd with nothing under /registry/ and no change to watch."""

    cluster_id = None

    async def current_revision(self) -> int:
        return 5

    async def list(self, prefix: str) -> tuple[list[StoredObject], int]:
        return [], 5

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        await asyncio.Event().wait()
        yield StoreEvent("PROGRESS", "", None, start_revision)  # never reached


async def test_the_cache_trims_quiet_rings_until_it_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "TRIM_PERIOD", 0.01)
    monkeypatch.setattr(watchcache, "LOWER_BOUND", 1)
    cache = watchcache.WatchCache(QuietStore())  # type: ignore[arg-type]
    await cache.start(timeout=5)
    pods = cache.cache(PODS)
    for rv in range(6, 9):
        pods.apply(put(rv))
    assert len(pods.events) == 3  # fresh: all stay
    for event in pods.events:
        event.recorded -= watchcache.EVENT_FRESH_SECONDS + 1
    await async_wait_for(
        lambda: _revisions(pods), "the trim task to drop the stale events", timeout=5
    )
    assert pods.oldest_revision == 7
    await cache.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("watch-cache")]


async def _revisions(pods: ResourceCache) -> bool:
    return [e.revision for e in pods.events] == [8]
