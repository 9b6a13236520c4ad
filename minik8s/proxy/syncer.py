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
import gc
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from minik8s.client.informer import Informer
from minik8s.proxy import iptables, restore
from minik8s.proxy import rules as r
from minik8s.proxy.config import ProxySettings

logger = logging.getLogger(__name__)

TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
"""Set by the Endpoints controller: when the change that produced this Endpoints happened."""

SYNC_DURATION = Histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds",
    "Time of one sync: render, plan and apply the rules.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROGRAMMING_LATENCY = Histogram(
    "kubeproxy_network_programming_duration_seconds",
    "From an Endpoints change (its trigger time, else when the proxy saw it) to rules applied.",
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
        endpoints: Informer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.netfilter = netfilter
        self.services = services
        self.endpoints = endpoints
        self.clock = clock
        self.options = r.RuleOptions(cluster_cidr=settings.cluster_cidr)
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
        self._triggers: dict[str, float] = {}
        for informer in (services, endpoints):
            informer.add_event_handler(
                on_add=self._on_change,
                on_update=lambda old, new: self._on_change(new),
                on_delete=self._on_change,
            )

    # --- change notifications -----------------------------------------------------------------

    def _on_change(self, obj: dict[str, Any]) -> None:
        if obj.get("kind") == "Endpoints" or "subsets" in obj:
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace')}/{meta.get('name')}"
            self._triggers.setdefault(key, _trigger_time(meta))
        self._dirty.set()

    # --- health -------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """False when no sync succeeded within `healthz_timeout` (kube-proxy's /healthz)."""
        last = self.last_success if self.last_success is not None else self._started
        return self.clock() - last < self.settings.healthz_timeout

    def ready(self) -> bool:
        return self.syncs > 0

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Sync forever; cancel to stop. The Service route is in place before any rule."""
        await self.netfilter.prepare()
        while not (await self.services.wait_synced(10) and await self.endpoints.wait_synced(10)):
            logger.info("waiting for the Services and Endpoints informers to sync")
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
        """One sync; True if it succeeded. Full: list our chains and rewrite every one."""
        start = self.clock()
        self._last_start = start
        self._dirty.clear()
        triggers, self._triggers = self._triggers, {}
        services, endpoints = self.services.store.list(), self.endpoints.store.list()
        phases: dict[str, float] = {}
        stages: list[restore.Stage] = []
        paused = _pause_gc()
        try:
            ruleset = await asyncio.to_thread(
                r.build_rules,
                services,
                endpoints,
                self.settings.node_name,
                self.options,
                self._memo,
            )
            desired = restore.flatten(ruleset)
            phases["render"] = self.clock() - start
            if full:
                existing = await self.netfilter.list_chains()
                jumps = await self.netfilter.missing_jumps(existing)
                self._applied = {}
                phases["list"] = self.clock() - start - sum(phases.values())
            else:
                existing, jumps = set(self._applied), []
            hooked = not any(table == "nat" for table, _, _ in jumps)
            stages = restore.plan(desired, self._applied, existing, jumps,
                                  self.settings.restore_budget, self.settings.restore_parallel,
                                  hooked)  # fmt: skip
            phases["plan"] = self.clock() - start - sum(phases.values())
            durations = []
            for stage in stages:
                began = self.clock()
                results = await asyncio.gather(
                    *(self._apply(call) for call in stage), return_exceptions=True
                )
                errors = [e for e in results if isinstance(e, BaseException)]
                if errors:
                    raise errors[0]
                durations.append(f"{len(stage)}x{self.clock() - began:.3f}s")
            phases["restore"] = self.clock() - start - sum(phases.values())
        except Exception as e:
            FAILURES.inc()
            self._need_full = True
            self._dirty.set()
            for key, when in triggers.items():
                self._triggers.setdefault(key, when)
            logger.error("sync failed (retrying in %.1fs as a full sync): %s",
                         self.settings.min_sync_period, e)  # fmt: skip
            return False
        finally:
            if paused:
                gc.enable()
        elapsed = self.clock() - start
        self._observe(ruleset, triggers, elapsed)
        if full:
            self._need_full = False
            self._next_full = start + self.settings.sync_period
        steps = [step for stage in stages for call in stage for step in call]
        written = sum(len(step.written) for step in steps)
        deleted = sum(len(step.deleted) for step in steps)
        log = (
            logger.info
            if steps and (full or self.syncs == 0 or written + deleted > 50)
            else (logger.debug)
        )
        log("%s sync: %d chains written, %d deleted in %d transactions, %d restore calls, "
            "%.3fs (%s [stages: calls x time: %s]; %d chains, %d rules in all)",
            "full" if full else "partial", written, deleted, len(steps),
            sum(len(stage) for stage in stages), elapsed,
            " ".join(f"{k} {v:.3f}s" for k, v in phases.items()), " ".join(durations),
            len(desired), ruleset.rule_count())  # fmt: skip
        self.syncs += 1
        return True

    async def _apply(self, call: restore.Call) -> None:
        """One restore process, recorded once it succeeded (if it fails, what it may have
        committed is unknown: the next sync is a full one, which lists the kernel's chains)."""
        text = await asyncio.to_thread(restore.render_call, call)
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

    def _observe(self, ruleset: r.RuleSet, triggers: dict[str, float], elapsed: float) -> None:
        SYNC_DURATION.observe(elapsed)
        for table in r.TABLES:
            RULES.labels(table).set(ruleset.rule_count(table))
        now = time.time()
        LAST_SYNC.set(now)
        self.last_success = self.clock()
        for when in triggers.values():
            PROGRAMMING_LATENCY.observe(max(0.0, now - when))


def _pause_gc() -> bool:
    """Turn the cyclic garbage collector off for a sync; True if it was on. A sync allocates
    ~200 000 objects (rules, chains, plan) that mostly survive it: each time they push a
    collection to an older generation, the collector walks the whole heap, the informers'
    objects included (~40% of a 5 000-service render). Reference counting still frees what
    the sync replaces; the collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    return enabled


def _trigger_time(meta: dict[str, Any]) -> float:
    text = (meta.get("annotations") or {}).get(TRIGGER_ANNOTATION)
    if text:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time()
