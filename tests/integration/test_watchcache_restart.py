"""The watch cache's supervisor (issue 17) over a real etcd: when its watch loop fails with an
error that is not one event's (here: injected into the store's watch stream), the failure is
counted, the cache stops serving (503, and `/readyz` reads the same `ready`) while it relists,
and it then serves what was written meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from minik8s.api import errors as api_errors
from minik8s.apiserver.watchcache import WatchCache
from minik8s.store.etcd import EtcdStore, StoredObject, StoreEvent
from tests.support.processes import Etcd
from tests.support.waiting import async_wait_for

PREFIX = "/registry/configmaps/default"


class FailingOnceStore(EtcdStore):
    """A real store whose watch stream raises once, at the first event for a key named
    "boom", and whose relists after that wait for `relist_gate`."""

    def __init__(self, servers: list[str]) -> None:
        super().__init__(servers)
        self.failed = False
        self.relist_gate = asyncio.Event()

    async def watch(  # type: ignore[override]
        self, prefix: str, start_revision: int, progress: bool = False
    ) -> AsyncIterator[StoreEvent]:
        async for event in super().watch(prefix, start_revision, progress):
            if event.key == f"{PREFIX}/boom" and not self.failed:
                self.failed = True
                raise RuntimeError("injected: the watch loop fails")
            yield event

    async def list(self, prefix: str) -> tuple[list[StoredObject], int]:
        if self.failed:
            await self.relist_gate.wait()
        return await super().list(prefix)


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}}  # fmt: skip


async def test_a_failing_loop_is_restarted_and_readiness_follows(fresh_etcd: Etcd) -> None:
    store = FailingOnceStore([fresh_etcd.url])
    cache = WatchCache(store)
    try:
        await cache.start(timeout=20)
        configmaps = cache.caches["configmaps"]
        await store.create(f"{PREFIX}/before", configmap("before"))
        await async_wait_for(
            lambda: asyncio.sleep(0, configmaps.objects.get(f"{PREFIX}/before")),
            "the cache to follow a write",
        )
        await store.create(f"{PREFIX}/boom", configmap("boom"))
        await async_wait_for(
            lambda: asyncio.sleep(0, cache.restarts == 1 and not cache.ready.is_set()),
            "the supervisor to count the failure and stop serving",
        )
        with pytest.raises(api_errors.ServiceUnavailable):
            cache.check_serving()
        await store.create(f"{PREFIX}/during", configmap("during"))
        store.relist_gate.set()
        async with asyncio.timeout(20):
            await cache.ready.wait()
        assert {"before", "boom", "during"} <= {key.rsplit("/", 1)[1] for key in configmaps.objects}
        cache.check_serving()
        await store.create(f"{PREFIX}/after", configmap("after"))
        await async_wait_for(
            lambda: asyncio.sleep(0, configmaps.objects.get(f"{PREFIX}/after")),
            "the restarted watch to follow writes again",
        )
        assert cache.restarts == 1
    finally:
        await cache.stop()
        await store.close()
