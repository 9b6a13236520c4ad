"""The informer's pure parts (cache, relist diff, event application) and its list/watch loop
against an in-memory fake apiserver (an in-memory transport: no sockets)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import httpx
import orjson
import pytest

from minik8s.api.resources import NODES, PODS
from minik8s.client import cache
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.informer import (
    Informer,
    InformerFactory,
    InformerSettings,
    apply_event,
    metadata_only,
    strip_managed_fields,
)
from minik8s.client.kubeconfig import ClientConfig
from minik8s.client.retries import RetryPolicy
from minik8s.client.transport import TransportFailure, failure_from
from minik8s.client.watch import WatchEvent
from tests.support.mock_transport import MockTransport
from tests.support.waiting import async_wait_for


def pod(name: str, rv: str, ns: str = "default", uid: str | None = None, **labels: str) -> dict:
    meta = {"name": name, "namespace": ns, "resourceVersion": rv, "uid": uid or f"uid-{name}"}
    return {"kind": "Pod", "metadata": {**meta, "labels": labels}}


def by_key(*objs: dict) -> dict[str, dict]:
    return {cache.object_key(o): o for o in objs}


# --- keys and the indexer -----------------------------------------------------------------


def test_keys_of_namespaced_and_cluster_scoped_objects() -> None:
    assert cache.object_key(pod("a", "1", ns="kube-system")) == "kube-system/a"
    assert cache.object_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert cache.split_key("ns/a") == ("ns", "a")
    assert cache.split_key("node-1") == (None, "node-1")


def test_indexer_keeps_indexes_in_step_with_writes() -> None:
    store = cache.Indexer(
        {
            cache.NAMESPACE_INDEX: cache.index_by_namespace,
            "app": lambda o: [o["metadata"]["labels"]["app"]],
        }
    )
    store.replace([pod("a", "1", app="web"), pod("b", "1", ns="other", app="web")])
    assert store.keys() == ["default/a", "other/b"]
    assert [o["metadata"]["name"] for o in store.by_index("app", "web")] == ["a", "b"]
    store.upsert(pod("a", "2", app="db"))
    assert [o["metadata"]["name"] for o in store.by_index("app", "web")] == ["b"]
    assert store.index_keys("app", "db") == ["default/a"]
    assert store.delete("default/a") is not None
    assert store.by_index("app", "db") == []
    assert store.by_index(cache.NAMESPACE_INDEX, "other")[0]["metadata"]["name"] == "b"
    assert store.get("other/b") is store.get(pod("b", "9", ns="other"))
    assert "other/b" in store and len(store) == 1
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_indexes_added_later_cover_existing_objects() -> None:
    store = cache.Indexer()
    store.upsert(pod("a", "1", app="web"))
    store.add_indexers({"app": lambda o: [o["metadata"]["labels"]["app"]]})
    assert store.index_keys("app", "web") == ["default/a"]


# --- relist diff --------------------------------------------------------------------------


def test_relist_into_an_empty_cache_adds_everything() -> None:
    diff = cache.diff_relist({}, [pod("a", "1"), pod("b", "2")])
    assert [o["metadata"]["name"] for o in diff.added] == ["a", "b"]
    assert diff.updated == [] and diff.deleted == []


def test_relist_reports_each_kind_of_change_once() -> None:
    cached = by_key(pod("same", "5"), pod("changed", "6"), pod("gone", "7"))
    listed = [pod("same", "5"), pod("changed", "9"), pod("new", "10")]
    diff = cache.diff_relist(cached, listed)
    assert [o["metadata"]["name"] for o in diff.added] == ["new"]
    assert [(old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"])
            for old, new in diff.updated] == [("6", "9")]  # fmt: skip
    assert diff.deleted == [cached["default/gone"]], "delete hands out the last known object"


def test_relist_of_an_unchanged_cache_is_empty() -> None:
    objs = [pod("a", "1"), pod("b", "2")]
    assert not cache.diff_relist(by_key(*objs), objs)


def test_relist_sees_a_recreated_object_as_delete_then_add() -> None:
    old = pod("a", "1", uid="first")
    new = pod("a", "8", uid="second")
    diff = cache.diff_relist(by_key(old), [new])
    assert diff.deleted == [old] and diff.added == [new] and diff.updated == []


# --- applying watch events ----------------------------------------------------------------


def test_apply_event_updates_cache_and_says_which_handler_to_call() -> None:
    store = cache.Indexer()
    a1, a2 = pod("a", "1"), pod("a", "2")
    assert apply_event(store, WatchEvent("ADDED", a1)) == ("add", None)
    assert apply_event(store, WatchEvent("ADDED", a1)) is None, "a replayed version is no change"
    assert apply_event(store, WatchEvent("MODIFIED", a2)) == ("update", a1)
    assert apply_event(store, WatchEvent("MODIFIED", a2)) is None
    assert store.get("default/a") is a2
    bookmark = {"kind": "Pod", "metadata": {"resourceVersion": "50"}}
    assert apply_event(store, WatchEvent("BOOKMARK", bookmark)) is None
    assert apply_event(store, WatchEvent("DELETED", pod("a", "3"))) == ("delete", a2)
    assert apply_event(store, WatchEvent("DELETED", pod("a", "3"))) is None
    assert len(store) == 0
    assert apply_event(store, WatchEvent("MODIFIED", pod("b", "4"))) == ("add", None)


# --- the loop, against a fake apiserver ---------------------------------------------------


class FakeApiserver:
    """Serves one collection: list, and watches fed from a queue the test controls."""

    def __init__(self) -> None:
        self.items: dict[str, dict] = {}
        self.rv = 0
        self.list_count = 0
        self.list_rvs: list[str | None] = []
        self.watch_rvs: list[str | None] = []
        self.streams: asyncio.Queue[asyncio.Queue[bytes | Exception | None]] = asyncio.Queue()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") == "1":
            self.watch_rvs.append(request.url.params.get("resourceVersion"))
            lines: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
            await self.streams.put(lines)
            return httpx.Response(200, content=self._stream(lines))
        self.list_count += 1
        self.list_rvs.append(request.url.params.get("resourceVersion"))
        body = {"kind": "PodList", "metadata": {"resourceVersion": str(self.rv)},
                "items": list(self.items.values())}  # fmt: skip
        return httpx.Response(200, json=body)

    async def _stream(self, lines: asyncio.Queue[bytes | Exception | None]) -> AsyncIterator[bytes]:
        while (line := await lines.get()) is not None:
            if isinstance(line, Exception):
                raise line
            yield line

    def change(self, kind: str, name: str) -> bytes:
        self.rv += 1
        obj = pod(name, str(self.rv))
        if kind == "DELETED":
            self.items.pop(name, None)
        else:
            self.items[name] = obj
        return orjson.dumps({"type": kind, "object": obj}) + b"\n"


async def test_informer_lists_watches_resumes_and_relists_without_duplicates() -> None:
    server = FakeApiserver()
    server.change("ADDED", "a")
    server.change("ADDED", "b")
    settings = ClientSettings(retry=RetryPolicy(max_attempts=1))
    client = ApiClient(
        ClientConfig.from_url("http://fake"), settings, transport=MockTransport(server.handle)
    )
    informer = Informer(
        client, PODS, settings=InformerSettings(backoff_base=0.01, backoff_cap=0.05, short_watch=0)
    )
    calls: list[tuple[str, str, str]] = []
    informer.add_event_handler(
        on_add=lambda o: calls.append(("add", o["metadata"]["name"], _rv(o))),
        on_update=lambda old, new: calls.append(("update", new["metadata"]["name"], _rv(new))),
        on_delete=lambda o: calls.append(("delete", o["metadata"]["name"], _rv(o))),
    )
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert sorted(calls) == [("add", "a", "1"), ("add", "b", "2")]
        stream = await asyncio.wait_for(server.streams.get(), 5)
        assert server.watch_rvs == ["2"]

        await stream.put(server.change("MODIFIED", "a"))  # rv 3
        await stream.put(b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}\n')
        await stream.put(None)  # the connection drops
        stream = await asyncio.wait_for(server.streams.get(), 5)
        assert server.watch_rvs[-1] == "7", "the watch resumes from the bookmark"

        server.change("DELETED", "b")  # missed: happens while the watch is expired
        server.change("ADDED", "c")
        server.change("MODIFIED", "a")
        expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
        await stream.put(orjson.dumps({"type": "ERROR", "object": expired}) + b"\n")
        await asyncio.wait_for(server.streams.get(), 5)
        assert server.list_count == 2 and informer.lists == 2
        # client-go's reflector: the first list from the watch cache ("0"), after a 410 a
        # consistent one (no resourceVersion)
        assert server.list_rvs == ["0", None]
        assert server.watch_rvs[-1] == "6", "after a relist the watch starts at the list's rv"
        assert calls[2:] == [
            ("update", "a", "3"),
            ("delete", "b", "2"),
            ("add", "c", "5"),
            ("update", "a", "6"),
        ]
        assert sorted(informer.store.keys()) == ["default/a", "default/c"]
        assert informer.last_resource_version == "6"
    finally:
        await informer.stop()
        await client.aclose()


async def test_a_too_large_resource_version_makes_the_informer_relist_consistently() -> None:
    """A watch (or list) answered 504 "Too large resource version" (an apiserver whose cache is
    behind: another one's, or etcd restored) relists with no resourceVersion, as client-go."""
    server = FakeApiserver()
    server.change("ADDED", "a")
    handle = server.handle
    too_large = {"kind": "Status", "code": 504, "reason": "Timeout",
                 "message": "Too large resource version: 9, current: 1"}  # fmt: skip

    async def behind_once(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") == "1" and not server.watch_rvs:
            server.watch_rvs.append(request.url.params.get("resourceVersion"))
            return httpx.Response(504, content=_once(orjson.dumps(too_large)))
        return await handle(request)

    settings = ClientSettings(retry=RetryPolicy(max_attempts=1))
    client = ApiClient(
        ClientConfig.from_url("http://fake"), settings, transport=MockTransport(behind_once)
    )
    informer = Informer(client, PODS, settings=InformerSettings(backoff_base=0.01, short_watch=0))
    informer.start()
    try:
        await asyncio.wait_for(server.streams.get(), 5)
        assert server.list_rvs == ["0", None] and server.watch_rvs == ["1", "1"]
    finally:
        await informer.stop()
        await client.aclose()


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def test_a_watch_broken_mid_stream_is_watched_again_at_once_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The apiserver restarting cuts every watch mid-chunk (aiohttp: "TransferEncodingError …
    Not enough data"); client-go ends such a watch quietly and watches again from its last
    version, with no relist and no backoff."""
    caplog.set_level(logging.INFO, logger="minik8s.client")
    server = FakeApiserver()
    server.change("ADDED", "a")
    client = ApiClient(
        ClientConfig.from_url("http://fake"),
        ClientSettings(retry=RetryPolicy(max_attempts=1)),
        transport=MockTransport(server.handle),
    )
    informer = Informer(client, PODS, settings=InformerSettings(backoff_base=60, backoff_cap=60))
    informer.start()
    try:
        assert await informer.wait_synced(5)
        stream = await asyncio.wait_for(server.streams.get(), 5)
        await stream.put(server.change("MODIFIED", "a"))  # rv 2
        broken = "Response payload is not completed: <TransferEncodingError: 400>"
        await stream.put(failure_from(aiohttp.ClientPayloadError(broken)))
        await asyncio.wait_for(server.streams.get(), 5)  # a backoff would wait 60 s
        assert server.watch_rvs == ["1", "2"] and server.list_count == 1
    finally:
        await informer.stop()
        await client.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("watching again from resourceVersion 2" in r.getMessage() for r in caplog.records)
    assert not any("TransferEncodingError" in r.getMessage() for r in caplog.records)


async def test_informer_calls_async_handlers_and_survives_their_errors() -> None:
    server = FakeApiserver()
    server.change("ADDED", "a")
    server.change("ADDED", "b")
    client = ApiClient(ClientConfig.from_url("http://fake"), transport=MockTransport(server.handle))
    seen: list[str] = []

    async def on_add(obj: dict) -> None:
        if obj["metadata"]["name"] == "a":
            raise RuntimeError("handler bug")
        seen.append(obj["metadata"]["name"])

    informer = Informer(client, PODS, resync_period=0.02)
    informer.add_event_handler(on_add=on_add, on_update=lambda old, new: seen.append("resync"))
    informer.start()
    try:
        assert await informer.wait_synced(5)
        await async_wait_for(lambda: _true("resync" in seen), "a periodic resync", timeout=5)
        assert "b" in seen
        with pytest.raises(RuntimeError):
            informer.add_event_handler(on_add=on_add)
    finally:
        await informer.stop()
        await client.aclose()
    assert not any(t.get_name().startswith("informer") for t in asyncio.all_tasks())


async def test_wait_synced_times_out_when_the_server_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise TransportFailure("connection refused", sent=False)

    settings = ClientSettings(retry=RetryPolicy(max_attempts=1))
    client = ApiClient(
        ClientConfig.from_url("http://fake"), settings, transport=MockTransport(refuse)
    )
    informer = Informer(client, NODES, settings=InformerSettings(backoff_base=0.01))
    informer.start()
    try:
        assert not await informer.wait_synced(0.2)
        assert not informer.has_synced
    finally:
        await informer.stop()
        await client.aclose()


async def test_factory_shares_one_informer_per_query() -> None:
    server = FakeApiserver()
    server.change("ADDED", "a")
    client = ApiClient(ClientConfig.from_url("http://fake"), transport=MockTransport(server.handle))
    factory = InformerFactory(client)
    pods = factory.informer(PODS, indexers={cache.NAMESPACE_INDEX: cache.index_by_namespace})
    assert factory.informer(PODS, indexers={"app": lambda o: []}) is pods
    assert pods.store.index_names() == [cache.NAMESPACE_INDEX, "app"]
    assert factory.informer(PODS, namespace="default") is not pods
    factory.start()
    try:
        assert await factory.wait_synced(5)
        assert pods.store.by_index(cache.NAMESPACE_INDEX, "default")[0]["metadata"]["name"] == "a"
    finally:
        await factory.stop()
        await client.aclose()


def _rv(obj: dict) -> str:
    return str(obj["metadata"]["resourceVersion"])


async def _true(value: bool) -> bool:
    return value


def test_a_factory_transform_strips_managed_fields_from_every_informer() -> None:
    client = ApiClient(ClientConfig.from_url("http://fake"))
    factory = InformerFactory(client, transform=strip_managed_fields)
    informer = factory.informer(PODS, namespace="default")
    assert informer.transform is strip_managed_fields
    obj = pod("a", "1")
    obj["metadata"]["managedFields"] = [{"manager": "kubelet"}]
    assert strip_managed_fields(obj) == pod("a", "1")
    assert strip_managed_fields({"kind": "Pod"}) == {"kind": "Pod"}


def test_an_informer_of_its_own_transform_keeps_only_metadata() -> None:
    client = ApiClient(ClientConfig.from_url("http://fake"))
    factory = InformerFactory(client, transform=strip_managed_fields)
    running = factory.informer(PODS, field_selector="status.phase=Running", transform=metadata_only)
    assert running.transform is metadata_only
    assert factory.informer(PODS).transform is strip_managed_fields
    obj = pod("a", "1", app="web")
    obj["apiVersion"] = "v1"
    obj["metadata"].update(annotations={"a": "b"}, managedFields=[{"manager": "kubelet"}])
    obj.update(spec={"nodeName": "n1", "containers": [{"name": "c"}]}, status={"phase": "Running"})
    assert metadata_only(obj) == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "a", "namespace": "default", "resourceVersion": "1", "uid": "uid-a",
                     "labels": {"app": "web"}},
    }  # fmt: skip
