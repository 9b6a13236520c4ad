"""The proxy's sync loop against a fake host: full then partial syncs, coalescing, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minik8s.proxy import restore
from minik8s.proxy.config import ProxySettings
from minik8s.proxy.syncer import Syncer
from tests.support.waiting import async_wait_for

pytestmark = pytest.mark.unit


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def list(self) -> list[dict[str, Any]]:
        return list(self.objects.values())


class FakeInformer:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.handlers: list[Any] = []

    def add_event_handler(self, on_add: Any, on_update: Any, on_delete: Any) -> None:
        self.handlers.append(on_add)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        return True

    def put(self, obj: dict[str, Any]) -> None:
        self.store.objects[obj["metadata"]["name"]] = obj
        for handler in self.handlers:
            handler(obj)


class FakeHost:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.restores: list[str] = []
        self.fail_next = False

    async def prepare(self) -> None:
        self.calls.append("prepare")

    async def list_chains(self) -> set[restore.ChainKey]:
        self.calls.append("list")
        return {("nat", "MINIK8S-SVC-LEFTOVER")}

    async def restore(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("iptables-restore: line 3 failed")
        self.calls.append("restore")
        self.restores.append(text)

    async def ensure_jumps(self) -> None:
        self.calls.append("jumps")

    async def cleanup(self) -> None:
        self.calls.append("cleanup")


def service() -> dict[str, Any]:
    spec = {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}]}
    return {"kind": "Service", "metadata": {"namespace": "d", "name": "web"}, "spec": spec}


def endpoints(ip: str) -> dict[str, Any]:
    return {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": ip}],
            "ports": [{"name": "http", "port": 8080}]}],
            "metadata": {"namespace": "d", "name": "web"}}  # fmt: skip


@pytest.fixture()
def parts() -> tuple[Syncer, FakeHost, FakeInformer, FakeInformer]:
    host, services, eps = FakeHost(), FakeInformer(), FakeInformer()
    settings = ProxySettings(node_name="n", min_sync_period=0.2, sync_period=60)
    syncer = Syncer(settings, host, services, eps)  # type: ignore[arg-type]
    return syncer, host, services, eps


async def test_first_sync_is_full_then_only_changes_are_written(parts: Any) -> None:
    syncer, host, services, eps = parts
    services.put(service())
    eps.put(endpoints("10.244.1.2"))
    assert await syncer.sync_once(full=True)
    assert host.calls == ["list", "restore", "jumps"]
    assert "-X MINIK8S-SVC-LEFTOVER" in host.restores[0]
    eps.put(endpoints("10.244.1.3"))
    assert await syncer.sync_once(full=False)
    assert host.calls[-1] == "restore"
    text = host.restores[-1]
    assert "10.244.1.3:8080" in text and "MINIK8S-SERVICES" not in text
    assert text.count("-X MINIK8S-SEP-") == 1
    assert await syncer.sync_once(full=False)  # nothing changed: no restore at all
    assert len(host.restores) == 2


async def test_changes_are_coalesced_and_failures_retried_as_full(parts: Any) -> None:
    syncer, host, services, eps = parts
    services.put(service())
    task = asyncio.create_task(syncer.run())
    try:
        await async_wait_for(lambda: _value(syncer.syncs == 1), "the first sync")
        for i in range(10):
            eps.put(endpoints(f"10.244.1.{i + 2}"))
        await async_wait_for(lambda: _value(syncer.syncs == 2), "one coalesced sync")
        await asyncio.sleep(0.3)
        assert syncer.syncs == 2 and "10.244.1.11:8080" in host.restores[-1]
        host.fail_next = True
        eps.put(endpoints("10.244.7.7"))
        await async_wait_for(lambda: _value(syncer.syncs == 3), "the retried sync", timeout=5)
        assert host.calls[-3:] == ["list", "restore", "jumps"]  # retried as a full sync
        assert syncer.healthy() and syncer.ready()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _value(value: bool) -> bool:
    return value
