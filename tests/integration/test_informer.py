"""Informer against a real apiserver and etcd: the cache converges to a fresh list, and every
change reaches the handlers exactly once, across bursts, apiserver and etcd restarts, and
relists after 410 Expired."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from minik8s.api import errors
from minik8s.api.resources import CONFIGMAPS, NAMESPACES
from minik8s.client import cache, retries
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.informer import Informer, InformerSettings
from minik8s.client.kubeconfig import ClientConfig, load_kubeconfig
from minik8s.client.transport import AiohttpTransport, Request, Response
from tests.support.processes import Apiserver, Etcd
from tests.support.waiting import async_wait_for

QUICK = InformerSettings(backoff_base=0.1, backoff_cap=1.0)
ONE_TRY = ClientSettings(retry=retries.RetryPolicy(max_attempts=1))


def configmap(name: str, value: str = "0", **labels: str) -> dict:
    meta: dict = {"name": name, "labels": labels} if labels else {"name": name}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


@dataclass
class Recorder:
    """Every handler call, to check that each change arrives exactly once."""

    adds: Counter[str] = field(default_factory=Counter)
    deletes: Counter[str] = field(default_factory=Counter)
    updates: Counter[str] = field(default_factory=Counter)
    seen_versions: dict[str, list[int]] = field(default_factory=dict)

    def attach(self, informer: Informer) -> None:
        informer.add_event_handler(self.on_add, self.on_update, self.on_delete)

    def _version(self, obj: dict) -> None:
        key = cache.object_key(obj)
        rv = int(obj["metadata"]["resourceVersion"])
        versions = self.seen_versions.setdefault(key, [])
        assert not versions or rv > versions[-1], f"{key}: version {rv} after {versions}"
        versions.append(rv)

    def on_add(self, obj: dict) -> None:
        self.adds[cache.object_key(obj)] += 1
        self._version(obj)

    def on_update(self, old: dict, new: dict) -> None:
        self.updates[cache.object_key(new)] += 1
        self._version(new)

    async def on_delete(self, obj: dict) -> None:  # async handlers work as well
        self.deletes[cache.object_key(obj)] += 1


async def cache_matches_list(informer: Informer, client: ApiClient) -> bool:
    listed = await client.list(informer.rt, informer.namespace)
    truth = {cache.object_key(o): o["metadata"]["resourceVersion"] for o in listed["items"]}
    mine = {k: o["metadata"]["resourceVersion"] for k, o in informer.store.items().items()}
    return truth == mine


async def wait_converged(informer: Informer, client: ApiClient, timeout: float = 30) -> None:
    await async_wait_for(
        lambda: cache_matches_list(informer, client),
        f"informer {informer.name} to equal a fresh list",
        timeout=timeout,
        interval=0.1,
    )


async def new_namespace(client: ApiClient) -> str:
    name = f"i-{uuid.uuid4().hex[:10]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


@pytest.fixture()
async def client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as c:
        yield c


QUIET = ["--endpoint-reconciler-type=none"]


@pytest.fixture()
def own_apiserver(fresh_etcd: Etcd, tmp_path: Path) -> Iterator[Apiserver]:
    # No identity Lease: the resume test needs etcd's revision to stay still between the
    # informer's last event and the restart (a Lease renewal or the shutdown's withdrawal
    # would move it past the new watch cache's start: 410 and a relist, as in Kubernetes).
    server = Apiserver(fresh_etcd.url, tmp_path / "apiserver-0", extra_args=QUIET)
    server.start()
    yield server
    server.stop()


@dataclass
class Churn:
    """What the test did to a set of objects: every key, its update count, the deleted ones."""

    keys: list[str]
    updates: Counter[str] = field(default_factory=Counter)
    deleted: set[str] = field(default_factory=set)


@contextlib.asynccontextmanager
async def recorded(informer: Informer) -> AsyncIterator[Recorder]:
    """The informer started, with a Recorder attached and synced; stopped on the way out."""
    rec = Recorder()
    rec.attach(informer)
    informer.start()
    try:
        assert await informer.wait_synced(10)
        yield rec
    finally:
        await informer.stop()


async def churn(client: ApiClient, ns: str, prefix: str, count: int) -> Churn:
    """Concurrent creates, then updates (0-3 per object), then deletes of a third of them."""
    names = [f"{prefix}-{i}" for i in range(count)]
    done = Churn(keys=[f"{ns}/{n}" for n in names])
    await asyncio.gather(*(client.create(CONFIGMAPS, configmap(n), ns) for n in names))
    await asyncio.gather(*(update(client, ns, n, random.randint(0, 3), done) for n in names))
    await asyncio.gather(*(delete(client, ns, n, done) for n in names[: count // 3]))
    return done


async def update(client: ApiClient, ns: str, name: str, times: int, done: Churn) -> None:
    for _ in range(times):
        await client.patch(CONFIGMAPS, name, {"data": {"v": uuid.uuid4().hex}}, namespace=ns)
        done.updates[f"{ns}/{name}"] += 1


async def delete(client: ApiClient, ns: str, name: str, done: Churn) -> None:
    await client.delete(CONFIGMAPS, name, ns)
    done.deleted.add(f"{ns}/{name}")


def assert_exactly_once(rec: Recorder, done: Churn, *, missed_lifetimes: bool = False) -> None:
    """Survivors were added once; deleted objects were added and deleted once each; no update
    was reported twice (a relist may fold several updates into one; a watch delivers each).

    With `missed_lifetimes`, an object created and deleted while the informer was cut off and
    then relisted may not be reported at all (a relist sees end states, as in client-go).
    """
    for key in done.keys:
        if key in done.deleted:
            assert rec.adds[key] == rec.deletes[key] <= 1, f"{key}: one add, one delete"
            if not missed_lifetimes:
                assert rec.deletes[key] == 1, f"{key}: delete missed"
        else:
            assert (rec.adds[key], rec.deletes[key]) == (1, 0), f"{key}: added once, kept"
        assert rec.updates[key] <= done.updates[key], f"{key}: duplicate updates"


async def test_cache_equals_a_fresh_list_after_a_burst(client: ApiClient) -> None:
    ns = await new_namespace(client)
    await client.create(CONFIGMAPS, configmap("before"), ns)
    informer = Informer(client, CONFIGMAPS, namespace=ns, settings=QUICK)
    async with recorded(informer) as rec:
        assert informer.store.keys() == [f"{ns}/before"]
        done = await churn(client, ns, "burst", 40)
        await wait_converged(informer, client)
        assert_exactly_once(rec, done)
        for key in done.keys:
            if key not in done.deleted:
                assert rec.updates[key] == done.updates[key], f"{key}: a live watch sends all"
        assert informer.lists == 1


async def test_label_selected_informer_with_an_index(client: ApiClient) -> None:
    ns = await new_namespace(client)
    informer = Informer(
        client, CONFIGMAPS, namespace=ns, label_selector="team",
        indexers={"team": lambda o: [o["metadata"]["labels"]["team"]]}, settings=QUICK,
    )  # fmt: skip
    informer.start()
    try:
        assert await informer.wait_synced(10)
        await client.create(CONFIGMAPS, configmap("a", team="red"), ns)
        await client.create(CONFIGMAPS, configmap("b", team="blue"), ns)
        await client.create(CONFIGMAPS, configmap("c"), ns)
        await async_wait_for(
            lambda: _true(len(informer.store) == 2), "the two labelled configmaps", timeout=10
        )
        assert [o["metadata"]["name"] for o in informer.store.by_index("team", "red")] == ["a"]
        await client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {"team": "blue"}}},
                           namespace=ns)  # fmt: skip
        await async_wait_for(
            lambda: _true(len(informer.store.by_index("team", "blue")) == 2), "a to move teams"
        )
    finally:
        await informer.stop()


class GatedTransport(AiohttpTransport):
    """Real HTTP, but requests wait while the gate is closed (a client cut off for a while)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            url, ssl_context=False, connect_timeout=5, max_connections=10, keepalive_expiry=30
        )
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, request: Request, *, stream: bool) -> Response:
        await self.gate.wait()
        return await super().send(request, stream=stream)


@pytest.mark.parametrize("new_cache_size", [None, 3], ids=["resume", "relist"])
async def test_survives_an_apiserver_restart(
    own_apiserver: Apiserver, tmp_path: Path, new_cache_size: int | None
) -> None:
    """Changes made while the informer is cut off reach it after the restart, once each:
    replayed by the watch, or (with a watch cache too small to hold them) through a relist."""
    server = own_apiserver
    config = ClientConfig.from_url(server.url)
    gated = GatedTransport(server.url)
    async with ApiClient(config) as writer, ApiClient(config, ONE_TRY, transport=gated) as reader:
        ns = await new_namespace(writer)
        informer = Informer(reader, CONFIGMAPS, namespace=ns, settings=QUICK)
        try:
            async with recorded(informer) as rec:
                before = await churn(writer, ns, "before", 15)
                await wait_converged(informer, writer)

                gated.gate.clear()
                await asyncio.to_thread(server.stop)
                extra = ["--watch-cache-size", str(new_cache_size)] if new_cache_size else []
                server = Apiserver(
                    server.etcd_url, tmp_path / "apiserver-1", port=server.port,
                    extra_args=[*QUIET, *extra],
                )  # fmt: skip
                await asyncio.to_thread(server.start)
                # The informer sees none of this until the gate opens: new objects come and go,
                # and survivors from before are updated and deleted.
                after = await churn(writer, ns, "after", 15)
                await asyncio.gather(
                    *(update(writer, ns, f"before-{i}", 2, before) for i in (5, 6))
                )
                await asyncio.gather(*(delete(writer, ns, f"before-{i}", before) for i in (7, 8)))
                gated.gate.set()

                await wait_converged(informer, writer)
                assert_exactly_once(rec, before)
                assert_exactly_once(rec, after, missed_lifetimes=bool(new_cache_size))
                if new_cache_size:
                    assert informer.lists >= 2, "the resume must have hit 410 Expired and relisted"
        finally:
            await asyncio.to_thread(server.stop)


async def test_survives_an_etcd_restart(fresh_etcd: Etcd, own_apiserver: Apiserver) -> None:
    config = ClientConfig.from_url(own_apiserver.url)
    async with ApiClient(config) as writer, ApiClient(config, ONE_TRY) as reader:
        ns = await new_namespace(writer)
        informer = Informer(reader, CONFIGMAPS, namespace=ns, settings=QUICK)
        async with recorded(informer) as rec:
            before = await churn(writer, ns, "before", 15)
            await wait_converged(informer, writer)

            await asyncio.to_thread(fresh_etcd.stop)
            await asyncio.to_thread(fresh_etcd.start)

            async def writable() -> bool:
                try:
                    await writer.create(CONFIGMAPS, configmap("probe"), ns)
                except errors.AlreadyExists:
                    return True
                return True

            await async_wait_for(writable, "the apiserver to write to etcd again", timeout=30)
            after = await churn(writer, ns, "after", 15)
            await wait_converged(informer, writer)
            assert_exactly_once(rec, before)
            assert_exactly_once(rec, after)
            assert rec.adds[f"{ns}/probe"] == 1


async def test_relists_after_expired_and_reconciles(fresh_etcd: Etcd, tmp_path: Path) -> None:
    """With a 3-event watch cache and 1 s watches, an idle selector's watch falls behind."""
    server = Apiserver(
        fresh_etcd.url,
        tmp_path / "apiserver",
        extra_args=["--watch-cache-size", "3", "--watch-bookmark-interval", "3600"],
    )
    await asyncio.to_thread(server.start)
    settings = InformerSettings(watch_timeout_min=1, watch_timeout_max=1, backoff_base=0.1)
    try:
        async with ApiClient(ClientConfig.from_url(server.url)) as client:
            ns = await new_namespace(client)
            await client.create(CONFIGMAPS, configmap("mine", watched="yes"), ns)
            informer = Informer(
                client, CONFIGMAPS, namespace=ns, label_selector="watched=yes", settings=settings
            )
            async with recorded(informer) as rec:
                for i in range(10):  # other objects move the revision past the cache
                    await client.create(CONFIGMAPS, configmap(f"noise-{i}"), ns)
                await async_wait_for(
                    lambda: _true(informer.lists >= 2), "a relist after 410 Expired", timeout=20
                )
                await client.patch(CONFIGMAPS, "mine", {"data": {"v": "1"}}, namespace=ns)
                await client.create(CONFIGMAPS, configmap("mine-2", watched="yes"), ns)
                await client.delete(CONFIGMAPS, "mine", ns)
                await async_wait_for(
                    lambda: _true(informer.store.keys() == [f"{ns}/mine-2"]),
                    "the cache to follow the changes after relisting",
                    timeout=20,
                )
                assert rec.adds == Counter({f"{ns}/mine": 1, f"{ns}/mine-2": 1})
                assert rec.deletes == Counter({f"{ns}/mine": 1})
                assert rec.updates[f"{ns}/mine"] <= 1
    finally:
        await asyncio.to_thread(server.stop)


async def _true(value: bool) -> bool:
    return value
