"""The sync loop: informer changes → coalesced syncs of the rules, and their metrics.

Like Kubernetes' BoundedFrequencyRunner: a change asks for a sync; syncs start at most once per
`min_sync_period` (changes in between are coalesced into the next one) and at least once per
`sync_period`, which is a full resync: our chains are listed from the kernel and every one is
rewritten, repairing anything changed behind our back; the jumps are checked too. Between full
resyncs a sync writes only the chains whose rules changed. A failed sync is retried after
`min_sync_period` as a full one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ipaddress
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from minik8s.api import endpointslices, times
from minik8s.client.informer import Informer
from minik8s.proxy import iptables, restore, syncmode
from minik8s.proxy import rules as r
from minik8s.proxy.config import ProxySettings

logger = logging.getLogger(__name__)

TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
"""Set by Kubernetes' EndpointSlice controller: when the change that produced a slice happened
(minik8s's does not set it yet: the proxy then counts from when it saw the slice)."""

SYNC_DURATION = Histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds",
    "Time of one sync: render, plan and apply the rules.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROGRAMMING_LATENCY = Histogram(
    "kubeproxy_network_programming_duration_seconds",
    "From an EndpointSlice change (its trigger time, else when the proxy saw it) to rules applied.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
RULES = Gauge("kubeproxy_sync_proxy_rules_iptables_total", "Rules we own, by table.", ["table"])
LAST_SYNC = Gauge(
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "Unix time of the last successful sync."
)
FAILURES = Counter("kubeproxy_sync_proxy_rules_failures_total", "Syncs that failed.")
RESTORES = Counter("kubeproxy_iptables_restore_calls_total", "iptables-restore calls made.")


class Syncer:
    def __init__(
        self,
        settings: ProxySettings,
        netfilter: iptables.Netfilter,
        services: Informer,
        slices: Informer,
        clock: Callable[[], float] = time.monotonic,
        on_synced: Callable[[list[dict[str, Any]], list[dict[str, Any]]], Awaitable[None]]
        | None = None,
    ) -> None:
        """`on_synced(services, slices)` runs after each successful sync (the health check
        node ports follow the rules)."""
        self.settings = settings
        self.netfilter = netfilter
        self.services = services
        self.slices = slices
        self.clock = clock
        self.on_synced = on_synced
        self.options = r.RuleOptions(
            cluster_cidr=settings.cluster_cidr,
            node_name=settings.node_name,
            forbidden_pod_destinations=settings.forbidden_pod_destinations,
        )
        self._memo = r.Memo()
        self.syncs = 0
        """Successful syncs so far."""
        self.last_success: float | None = None
        self._started = clock()
        self._dirty = asyncio.Event()
        self._need_full = True
        self._next_full = 0.0
        self._last_start = -1e9
        self._applied: dict[restore.ChainKey, tuple[str, ...]] = {}
        self._renderer = ThreadPoolExecutor(1, thread_name_prefix="proxy-render")
        self._triggers: dict[str, float] = {}
        for informer in (services, slices):
            informer.add_event_handler(
                on_add=self._on_change,
                on_update=lambda old, new: self._on_change(new),
                on_delete=self._on_change,
            )

    # --- change notifications -----------------------------------------------------------------

    def _on_change(self, obj: dict[str, Any]) -> None:
        service = endpointslices.service_of(obj) if "addressType" in obj else None
        if service is not None:
            key = f"{service[0]}/{service[1]}"
            self._triggers.setdefault(key, _trigger_time(obj.get("metadata") or {}))
        self._dirty.set()

    # --- health -------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """False when no sync succeeded within `healthz_timeout` (kube-proxy's /healthz)."""
        last = self.last_success if self.last_success is not None else self._started
        return self.clock() - last < self.settings.healthz_timeout

    def ready(self) -> bool:
        return self.syncs > 0

    def close(self) -> None:
        """Release the rendering thread (when the process hosts many syncers, as kubemark's)."""
        self._renderer.shutdown(wait=False)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync forever; cancel to stop. The Service route is in place before any rule."""
        await self.netfilter.prepare()
        while not (await self.services.wait_synced(10) and await self.slices.wait_synced(10)):
            logger.info("waiting for the Services and EndpointSlices informers to sync")
        while True:
            now = self.clock()
            full = self._need_full or now >= self._next_full
            if not full and not self._dirty.is_set():
                try:
                    await asyncio.wait_for(self._dirty.wait(), self._next_full - now)
                except TimeoutError:
                    pass
                continue
            wait = self._last_start + self.settings.min_sync_period - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)  # coalesce: more changes may arrive meanwhile
                full = self._need_full or self.clock() >= self._next_full
            await self.sync_once(full)

    async def sync_once(self, full: bool) -> bool:
        """One sync; True if it succeeded. Full: list our chains and rewrite every one.

        A thread renders the rules, plans the restore calls and renders their input, handing
        each call over as soon as it is ready: the restores of a large sync start while most
        of it is still being rendered (see `_produce`). They run `restore_parallel` at a time,
        in order; each stage waits for the one before it."""
        start = self.clock()
        self._last_start = start
        self._dirty.clear()
        triggers, self._triggers = self._triggers, {}
        services, slices = self.services.store.list(), self.slices.store.list()
        phases: dict[str, float] = {}
        done: list[restore.Call] = []
        durations: list[str] = []
        with syncmode.SYNCING:
            try:
                if full:
                    await self._resolve_node_port_addresses()
                    existing = await self.netfilter.list_chains()
                    jumps = await self.netfilter.missing_jumps(existing)
                    self._applied = {}
                    phases["list"] = self.clock() - start
                else:
                    existing, jumps = set(self._applied), []
                loop = asyncio.get_running_loop()
                handover: asyncio.Queue[_Item] = asyncio.Queue()
                stop = threading.Event()

                def emit(item: _Item) -> None:
                    loop.call_soon_threadsafe(handover.put_nowait, item)

                producer = loop.run_in_executor(
                    self._renderer, self._produce, services, slices, dict(self._applied),
                    existing, jumps, emit, stop,
                )  # fmt: skip
                try:
                    first = await self._consume(handover, stop, done, durations)
                finally:
                    stop.set()
                    desired, counts, rendering = await producer
                phases["render"] = rendering
                if first is not None:
                    phases["first restore at"] = first - start
            except Exception as e:
                FAILURES.inc()
                self._need_full = True
                self._dirty.set()
                for key, when in triggers.items():
                    self._triggers.setdefault(key, when)
                logger.error("sync failed (retrying in %.1fs as a full sync): %s",
                             self.settings.min_sync_period, e)  # fmt: skip
                return False
        elapsed = self.clock() - start
        self._observe(counts, triggers, elapsed)
        if full:
            self._need_full = False
            self._next_full = start + self.settings.sync_period
        steps = [step for call in done for step in call]
        written = sum(len(step.written) for step in steps)
        deleted = sum(len(step.deleted) for step in steps)
        log = (
            logger.info
            if steps and (full or self.syncs == 0 or written + deleted > 50)
            else (logger.debug)
        )
        log("%s sync: %d chains written, %d deleted in %d transactions, %d restore calls, "
            "%.3fs (%s [stages: calls x time: %s]; %d chains, %d rules in all)",
            "full" if full else "partial", written, deleted, len(steps), len(done), elapsed,
            " ".join(f"{k} {v:.3f}s" for k, v in phases.items()), " ".join(durations),
            len(desired), sum(counts.values()))  # fmt: skip
        self.syncs += 1
        if self.on_synced is not None:
            try:
                await self.on_synced(services, slices)
            except Exception:
                logger.exception("after the sync")
        return True

    async def _resolve_node_port_addresses(self) -> None:
        """`--nodeport-addresses` CIDRs → this host's addresses in them (on every full sync:
        an interface may have gained or lost one)."""
        networks = [ipaddress.ip_network(c) for c in self.settings.nodeport_addresses]
        if not networks:
            return
        local = await self.netfilter.local_addresses()
        inside = {a for a in local if any(ipaddress.ip_address(a) in n for n in networks)}
        chosen = tuple(sorted(inside))
        if chosen != self.options.node_port_addresses:
            logger.info("NodePorts answer on %s", ", ".join(chosen) or "no local address")
            self.options = dataclasses.replace(self.options, node_port_addresses=chosen)

    def _produce(
        self,
        services: list[dict[str, Any]],
        slices: list[dict[str, Any]],
        applied: dict[restore.ChainKey, tuple[str, ...]],
        existing: set[restore.ChainKey],
        jumps: list[restore.Jump],
        emit: Callable[[_Item], None],
        stop: threading.Event,
    ) -> tuple[dict[restore.ChainKey, tuple[str, ...]], dict[str, int], float]:
        """(In a thread.) Render the rules, plan the calls and hand them over, each with its
        input, a BARRIER after each stage and END last. Returns the chains, the rules in each
        table and the time it took.

        A full sync of more chains than a transaction's budget (so never one atomic call
        anyway) is streamed: the leaf chains, then the SVC and SEP chains, a call for
        each transaction as soon as it is rendered (`restore.service_transactions`), then
        what `restore.plan` makes of the rest: the chains that jump to those, the jumps from
        the built-in chains, the stale chains."""
        began = time.perf_counter()
        budget, parallel = self.settings.restore_budget, self.settings.restore_parallel
        hooked = not any(table == "nat" for table, _, _ in jumps)

        def hand_over(stages: list[restore.Stage], last_barrier: bool = True) -> None:
            for i, stage in enumerate(stages):
                for call in stage:
                    if stop.is_set():
                        return
                    emit((call, restore.render_call(call)))
                if last_barrier or i < len(stages) - 1:
                    emit(BARRIER)

        try:
            builder = r.Builder(services, slices, self.options, self._memo)
            written: dict[restore.ChainKey, tuple[str, ...]] = {}
            if not applied and (  # counted only when it matters: it reads every slice
                r.chains_estimate(services, slices) > restore.limits(budget, hooked)[0]
            ):
                static = restore.flatten(builder.rules)  # the services are not read yet
                leaves = {key: rules for key, rules in static.items()
                          if r.chain_level(key[1]) == 0}  # fmt: skip
                hand_over(restore.plan(leaves, {}, set(), (), budget, parallel, hooked))
                written.update(leaves)
                for step in restore.service_transactions(builder.groups(), budget, hooked):
                    if stop.is_set():
                        break
                    emit(([step], step.render()))  # a call each, any order: no barrier
                    written.update(((step.table, chain), rules)
                                   for chain, rules in step.written.items())  # fmt: skip
                emit(BARRIER)
            desired = builder.finish_chains()
            counts = {table: 0 for table in r.TABLES}
            for (table, _), chain_rules in desired.items():
                counts[table] += len(chain_rules)
            hand_over(restore.plan(desired, {**applied, **written}, existing | set(written),
                                   jumps, budget, parallel, hooked))  # fmt: skip
            return desired, counts, time.perf_counter() - began
        finally:
            emit(END)

    async def _consume(
        self,
        handover: asyncio.Queue[_Item],
        stop: threading.Event,
        done: list[restore.Call],
        durations: list[str],
    ) -> float | None:
        """Run the calls handed over, `restore_parallel` at a time, until END; at a BARRIER
        wait for the running ones. After a failed call no other one starts: the first error
        is raised at END. Returns when the first call started (None: there was none)."""
        slots = asyncio.Semaphore(self.settings.restore_parallel)
        running: set[asyncio.Task[None]] = set()
        errors: list[BaseException] = []
        first: float | None = None
        began, calls = self.clock(), 0

        async def apply(call: restore.Call, text: str) -> None:
            try:
                await self._apply(call, text)
                done.append(call)
            except Exception as e:
                errors.append(e)
                stop.set()
            finally:
                slots.release()

        try:
            while True:
                item = await handover.get()
                if isinstance(item, _Mark):
                    await asyncio.gather(*running)
                    if calls:
                        durations.append(f"{calls}x{self.clock() - began:.3f}s")
                        calls = 0
                    if item is END:
                        break
                    continue
                await slots.acquire()
                if errors:
                    slots.release()
                    continue
                if not calls:
                    began = self.clock()
                    first = began if first is None else first
                calls += 1
                task = asyncio.create_task(apply(*item))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
        if errors:
            raise errors[0]
        return first

    async def _apply(self, call: restore.Call, text: str) -> None:
        """One restore process, recorded once it succeeded (if it fails, what it may have
        committed is unknown: the next sync is a full one, which lists the kernel's chains)."""
        await self.netfilter.restore(text)
        RESTORES.inc()
        for step in call:
            self._record(step)

    def _record(self, step: restore.Step) -> None:
        written, deleted = step.keys()
        for key in written:
            self._applied[key] = step.written[key[1]]
        for key in deleted:
            self._applied.pop(key, None)

    def _observe(self, counts: dict[str, int], triggers: dict[str, float], elapsed: float) -> None:
        """Record a successful sync (its rules by table) in the metrics."""
        SYNC_DURATION.observe(elapsed)
        for table, count in counts.items():
            RULES.labels(table).set(count)
        now = time.time()
        LAST_SYNC.set(now)
        self.last_success = self.clock()
        for when in triggers.values():
            PROGRAMMING_LATENCY.observe(max(0.0, now - when))


class _Mark(enum.Enum):
    BARRIER = "barrier"
    """Handed over after a stage: the calls after it wait for every call before it."""
    END = "end"
    """Handed over last."""


BARRIER, END = _Mark.BARRIER, _Mark.END
_Item = tuple[restore.Call, str] | _Mark
"""A call with its input, or a mark."""


def _trigger_time(meta: dict[str, Any]) -> float:
    text = (meta.get("annotations") or {}).get(TRIGGER_ANNOTATION)
    stamp = times.parse_timestamp(text)
    return time.time() if stamp is None else stamp
