"""The proxy's sync loop against a fake host: full then partial syncs, coalescing, failures."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from minik8s.proxy import restore, rules, syncmode
from minik8s.proxy.config import ProxySettings
from minik8s.proxy.syncer import Syncer
from tests.support.slices import endpoint_slice
from tests.support.waiting import async_wait_for
from tests.unit.test_proxy_rules import _apply_section, ours

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
        self.delay = 0.0
        self.gate: asyncio.Event | None = None
        """When set, each restore also waits for this event."""
        self.running = self.most_running = 0

    async def prepare(self) -> None:
        self.calls.append("prepare")

    async def list_chains(self) -> set[restore.ChainKey]:
        self.calls.append("list")
        return {("nat", "MINIK8S-SVC-LEFTOVER")}

    async def missing_jumps(self, existing: set[restore.ChainKey]) -> list[restore.Jump]:
        self.calls.append("jumps")
        return [] if self.restores else list(rules.JUMPS)

    async def restore(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("iptables-restore: line 3 failed")
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        self.running -= 1
        self.calls.append("restore")
        self.restores.append(text)

    async def cleanup(self) -> None:
        self.calls.append("cleanup")


def service() -> dict[str, Any]:
    spec = {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}]}
    return {"kind": "Service", "metadata": {"namespace": "d", "name": "web"}, "spec": spec}


def endpoints(*ips: str, service: str = "web") -> dict[str, Any]:
    return endpoint_slice(service, ips, namespace="d",
                          ports=[{"name": "http", "port": 8080, "protocol": "TCP"}])  # fmt: skip


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
    assert host.calls == ["list", "jumps", "restore"]
    assert "-X MINIK8S-SVC-LEFTOVER" in host.restores[0]
    assert host.restores[0].count("\n-I ") == len(rules.JUMPS)  # hung in with the chains
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
        assert host.calls[-3:] == ["list", "jumps", "restore"]  # retried as a full sync
        assert "\n-I " not in host.restores[-1]  # the jumps are there already
        assert syncer.healthy() and syncer.ready()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _value(value: bool) -> bool:
    return value


async def test_a_large_sync_runs_its_stages_calls_at_once_and_records_them(
    parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncer, host, services, eps = parts
    monkeypatch.setattr(restore, "MIN_RULES_PER_CALL", 4)
    syncer.settings = ProxySettings(node_name="n", restore_budget=8, restore_parallel=2)
    for i in range(30):
        svc = service()
        svc["metadata"]["name"] = f"web{i}"
        svc["spec"]["clusterIP"] = f"10.96.0.{i + 10}"
        services.put(svc)
        eps.put(endpoints(f"10.244.1.{i + 2}", f"10.244.2.{i + 2}", service=f"web{i}"))
    host.delay = 0.01
    assert await syncer.sync_once(full=True)
    assert host.most_running == 2 and len(host.restores) > 3
    written = {line[1:].split()[0] for text in host.restores for line in text.splitlines()
               if line.startswith(":")}  # fmt: skip
    assert {chain for _, chain in syncer._applied} == written - {"MINIK8S-SVC-LEFTOVER"}
    count = len(host.restores)
    assert await syncer.sync_once(full=False)
    assert len(host.restores) == count  # everything was recorded: nothing left to write
    host.fail_next = True
    assert not await syncer.sync_once(full=True)  # one failed call fails the sync ...
    assert syncer._need_full  # ... and the next one is full again


@pytest.fixture()
def process_settings() -> Iterator[None]:
    """The switch interval and collector state before the test, put back after it."""
    saved = sys.getswitchinterval(), gc.isenabled()
    yield
    sys.setswitchinterval(saved[0])
    (gc.enable if saved[1] else gc.disable)()


@pytest.mark.usefixtures("process_settings")
async def test_overlapping_syncs_restore_the_process_settings_only_when_the_last_ends() -> None:
    """Two syncers in one process (as kubemark's hollow proxies): A starts, B starts, A ends
    while B still syncs, B ends. The sync's settings hold until B ends, and then the process's
    own come back (not those A had set when B saved them)."""
    sys.setswitchinterval(0.008)
    interval = sys.getswitchinterval()
    gc.enable()
    gates = [asyncio.Event(), asyncio.Event()]
    syncers: list[Syncer] = []
    tasks: list[asyncio.Task[bool]] = []
    for name, gate in zip("ab", gates, strict=True):
        host, services, eps = FakeHost(), FakeInformer(), FakeInformer()
        services.put(service())
        host.gate = gate
        syncers.append(Syncer(ProxySettings(node_name=name), host, services, eps))  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(syncers[-1].sync_once(full=True)))

        async def restoring(host: FakeHost = host) -> bool:
            return host.running == 1

        await async_wait_for(restoring, f"sync {name} in its restore")
    try:
        assert sys.getswitchinterval() == syncmode.SWITCH_INTERVAL and not gc.isenabled()
        gates[0].set()
        assert await tasks[0]  # A ends while B still syncs
        assert sys.getswitchinterval() == syncmode.SWITCH_INTERVAL, "A restored while B syncs"
        assert not gc.isenabled(), "A turned the collector on while B syncs"
        gates[1].set()
        assert await tasks[1]
        assert sys.getswitchinterval() == interval, "the process's switch interval is lost"
        assert gc.isenabled(), "the collector stayed off"
    finally:
        for gate in gates:
            gate.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for syncer in syncers:
            syncer.close()


class ModelHost(FakeHost):
    """Applies each restore to a model of the kernel (which checks that nothing dangles after
    any transaction) when it ends, after a random delay: calls end in any order."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.kernel: dict[restore.ChainKey, list[str]] = {}
        self.random = random.Random(seed)

    async def list_chains(self) -> set[restore.ChainKey]:
        return {key for key in self.kernel if key[1].startswith(rules.PREFIX)}

    async def missing_jumps(self, existing: set[restore.ChainKey]) -> list[restore.Jump]:
        return [(t, c, rule) for t, c, rule in rules.JUMPS
                if restore._quote(rule) not in self.kernel.get((t, c), [])]  # fmt: skip

    async def restore(self, text: str) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        await asyncio.sleep(self.random.uniform(0, 0.005))
        self.running -= 1
        for section in text.split("COMMIT\n")[:-1]:
            self.kernel = _apply_section(self.kernel, section)
        self.restores.append(text)


def cluster(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    svcs, eps = [], []
    for i in range(n):
        svc = service()
        svc["metadata"]["name"] = f"web{i}"
        svc["spec"]["clusterIP"] = f"10.96.0.{i + 10}"
        if i % 5 == 0:
            svc["spec"].update(type="NodePort", sessionAffinity="ClientIP")
            svc["spec"]["ports"][0]["nodePort"] = 30000 + i
        ips = [f"10.244.1.{i + 2}", *(f"10.244.2.{i + j}" for j in range(i % 4))]
        ep = endpoints(*ips, service=f"web{i}")
        if i % 7 == 3:
            ep["endpoints"] = []
        svcs.append(svc)
        eps.append(ep)
    return svcs, eps


@pytest.mark.parametrize("seed", range(3))
async def test_a_large_full_sync_is_streamed_and_consistent_in_any_order(seed: int) -> None:
    host, services, eps = ModelHost(seed), FakeInformer(), FakeInformer()
    settings = ProxySettings(node_name="n", restore_budget=8, restore_parallel=3)
    proxy = Syncer(settings, host, services, eps)  # type: ignore[arg-type]
    svcs, endpoint_objects = cluster(40)
    for svc, ep in zip(svcs, endpoint_objects, strict=True):
        services.put(svc)
        eps.put(ep)

    def desired() -> dict[restore.ChainKey, list[str]]:
        built = rules.build_rules(services.store.list(), eps.store.list(), "n", proxy.options)
        return {key: list(value) for key, value in restore.flatten(built).items()}

    assert await proxy.sync_once(full=True)
    assert len(host.restores) > 6 and host.most_running == 3  # streamed, calls at once
    assert ours(host.kernel) == desired()
    assert not await host.missing_jumps(set())
    assert proxy._applied == {key: tuple(value) for key, value in desired().items()}

    host.kernel[("nat", "MINIK8S-SEP-LEFTOVER")] = ["-j MINIK8S-MARK-MASQ"]
    svcs[1]["spec"]["clusterIP"] = "10.96.1.1"
    services.put(svcs[1])
    services.store.objects.pop("web2")
    assert await proxy.sync_once(full=True)  # rewrites every chain, hooked in all along
    assert ours(host.kernel) == desired()
    eps.put(endpoints("10.244.9.9", service="web4"))
    count = len(host.restores)
    assert await proxy.sync_once(full=False)
    assert len(host.restores) == count + 1 and ours(host.kernel) == desired()
