"""The Node lifecycle controller: notice silent nodes, taint them, evict their pods.

Every `node_monitor_period` it checks each node's heartbeat (its Lease in kube-node-lease,
or its Ready condition's lastHeartbeatTime). A node silent for `node_monitor_grace_period`
(measured on our own clock from the last change we saw) gets its conditions set to Unknown,
its pods marked not ready, and the `node.kubernetes.io/unreachable` taints; a node reporting
Ready=False gets the `not-ready` ones. Pods on a node with a NoExecute health taint are
deleted once their toleration (or `pod_eviction_timeout`) runs out, so their controllers
recreate them elsewhere. A node that reports in again loses the unreachable taints.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import LEASES, NODES, PODS
from minik8s.client import tasks
from minik8s.controllers import indexes
from minik8s.controllers import nodelifecycle_plan as plan
from minik8s.controllers.base import Controller, write_status

logger = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"


@dataclass
class Health:
    signature: tuple[str, str]
    observed_at: float
    """Our monotonic clock when the signature last changed."""


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def register(self) -> None:
        self.health: dict[str, Health] = {}
        self.nodes = self.ctx.informer(NODES)
        self.leases = self.ctx.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.ctx.informer(PODS)
        self.pods = self.ctx.informers.informer(
            PODS, indexers={indexes.NODE_INDEX: indexes.node_name}
        )
        self.nodes.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self._node_deleted
        )
        self.leases.add_event_handler(
            self._lease_changed, lambda old, new: self._lease_changed(new)
        )

    def _node_deleted(self, node: Object) -> None:
        self.health.pop(meta.name_of(node), None)

    def _lease_changed(self, lease: Object) -> None:
        self.queue.add(meta.name_of(lease))

    async def run(self) -> None:
        monitor = tasks.spawn(self._monitor(), "nodelifecycle monitor")
        try:
            await super().run()
        finally:
            await tasks.cancel_and_wait([monitor])

    async def _monitor(self) -> None:
        while True:
            for key in self.nodes.store.keys():
                self.queue.add(key)
            await asyncio.sleep(self.settings.node_monitor_period)

    def _observe(self, node: Object) -> float:
        """Seconds since the node last reported in (as far as we have watched it)."""
        name = meta.name_of(node)
        lease = self.leases.store.get_by_key(f"{NODE_LEASE_NAMESPACE}/{name}")
        signature = plan.heartbeat_signature(node, lease)
        now = time.monotonic()
        health = self.health.get(name)
        if health is None or health.signature != signature:
            health = Health(signature, now)
            self.health[name] = health
        return now - health.observed_at

    async def reconcile(self, key: str) -> None:
        node = self.nodes.store.get_by_key(key)
        if node is None:
            return
        silent_for = self._observe(node)
        ever_ready = meta.get_condition(node, "Ready") is not None
        grace = (self.settings.node_monitor_grace_period if ever_ready
                 else self.settings.node_startup_grace_period)  # fmt: skip
        reachable = silent_for <= grace
        now = times.utc_now()
        if not reachable:
            await self._mark_silent(node, silent_for)
        taints = plan.desired_taints(node, reachable, now)
        if not plan.taints_equal(taints, (node.get("spec") or {}).get("taints") or []):
            await self._set_taints(node, taints, reachable)
        await self._evict(key, taints, now)
        if reachable:
            left = grace - silent_for
            self.queue.add_after(key, max(0.1, min(left + 0.05, self.settings.node_monitor_period)))

    async def _mark_silent(self, node: Object, silent_for: float) -> None:
        now = times.utc_now()
        conditions = plan.silent_conditions(node, now)
        if conditions is None:
            return
        name = meta.name_of(node)
        logger.warning("node %s: no heartbeat for %.1fs; marking Ready=Unknown", name, silent_for)
        status = {**(node.get("status") or {}), "conditions": conditions}
        try:
            await write_status(self.client, NODES, node, status)
        except errors.NotFound:
            return
        self.recorder.record(node, "Normal", "NodeNotReady",
                             f"Node {name} status is now: NodeNotReady")  # fmt: skip
        for pod in self.pods.store.by_index(indexes.NODE_INDEX, name):
            pod_status = plan.not_ready_pod_status(pod, now)
            if pod_status is None or meta.is_deleting(pod):
                continue
            try:
                await write_status(self.client, PODS, pod, pod_status)
            except errors.NotFound:
                continue
            self.recorder.record(pod, "Warning", "NodeNotReady", "Node is not ready")

    async def _set_taints(self, node: Object, taints: list[dict], reachable: bool) -> None:
        updated = copy.deepcopy(node)
        updated.setdefault("spec", {})["taints"] = taints
        try:
            await self.client.update(NODES, updated)
        except errors.NotFound:
            return
        keys = sorted({t["key"] for t in taints if t.get("key") in plan.HEALTH_TAINT_KEYS})
        logger.info("node %s: health taints now %s", meta.name_of(node), keys or "none")

    async def _evict(self, key: str, taints: list[dict], now: object) -> None:
        if not any(t.get("effect") == plan.NO_EXECUTE for t in taints):
            return
        timeout = self.settings.pod_eviction_timeout
        wake: float | None = None
        for pod in self.pods.store.by_index(indexes.NODE_INDEX, key):
            if meta.is_deleting(pod):
                continue
            due = plan.eviction_time(pod, taints, timeout, times.utc_now())
            if due is None:
                continue
            left = (due - times.utc_now()).total_seconds()
            if left > 0:
                wake = left if wake is None else min(wake, left)
                continue
            logger.info("node %s: evicting pod %s", key, meta.ns_name(pod))
            self.recorder.record(pod, "Normal", "TaintManagerEviction",
                                 f"Marking for deletion Pod {meta.ns_name(pod)}")  # fmt: skip
            try:
                await write_status(self.client, PODS, pod, plan.disruption_status(pod))
                await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod),
                                         preconditions={"uid": meta.uid_of(pod)})  # fmt: skip
            except (errors.NotFound, errors.Conflict):
                continue
        if wake is not None:
            self.queue.add_after(key, wake + 0.05)
