"""The pod garbage collector (podgc): every `4 x --node-monitor-period` (20 s by default) it
deletes terminated pods beyond `--terminated-pod-gc-threshold`, oldest first; pods bound to a
node that no longer exists (once the node has been missing for `--node-monitor-grace-period`,
40 s by default like Kubernetes' quarantine, and a GET confirms it), marked Failed with the
DisruptionTarget condition first; and unscheduled pods stuck terminating. All with grace 0.
"""

from __future__ import annotations

import asyncio
import logging
import time

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import NODES, PODS
from minik8s.client import tasks
from minik8s.controllers import podgc_plan as plan
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

TICK_KEY = "gc"


class PodGCController(Controller):
    name = "podgc"

    def register(self) -> None:
        self.pods = self.ctx.informer(PODS)
        self.nodes = self.ctx.informer(NODES)
        self.period = max(0.2, 4 * self.settings.node_monitor_period)
        self.quarantine = self.settings.node_monitor_grace_period
        self.missing_since: dict[str, float] = {}
        """Node name → when (monotonic) its pods were first seen without the node."""

    async def run(self) -> None:
        ticker = tasks.spawn(self._tick(), "podgc ticker")
        try:
            await super().run()
        finally:
            await tasks.cancel_and_wait([ticker])

    async def _tick(self) -> None:
        while True:
            self.queue.add(TICK_KEY)
            await asyncio.sleep(self.period)

    async def reconcile(self, key: str) -> None:
        pods = self.pods.store.list()
        for pod in plan.terminated_to_delete(pods, self.settings.terminated_pod_gc_threshold):
            await self._delete(pod, "terminated pod beyond the threshold")
        await self._orphans(pods)
        for pod in plan.unscheduled_terminating(pods):
            await self._delete(pod, "unscheduled and terminating")

    async def _orphans(self, pods: list[Object]) -> None:
        nodes = {meta.name_of(n) for n in self.nodes.store.list()}
        now = time.monotonic()
        by_node: dict[str, list[Object]] = {}
        for pod in plan.orphaned(pods, nodes):
            by_node.setdefault(str((pod.get("spec") or {}).get("nodeName")), []).append(pod)
        self.missing_since = {n: t for n, t in self.missing_since.items() if n in by_node}
        for node, node_pods in by_node.items():
            first = self.missing_since.setdefault(node, now)
            if now - first < self.quarantine:
                continue
            try:
                await self.client.get(NODES, node)
                continue  # it exists after all: the cache was late
            except errors.NotFound:
                pass
            for pod in node_pods:
                if plan.force_deleted(pod):
                    continue
                await self._fail_and_delete(pod, node)

    async def _fail_and_delete(self, pod: Object, node: str) -> None:
        try:
            await self.client.update_status(PODS, {**pod, "status": plan.failed_status(pod)})
        except (errors.NotFound, errors.Conflict):
            pass
        await self._delete(pod, f"node {node} no longer exists")

    async def _delete(self, pod: Object, why: str) -> None:
        try:
            await self.client.delete(
                PODS,
                meta.name_of(pod),
                meta.namespace_of(pod),
                grace_period_seconds=0,
                preconditions={"uid": meta.uid_of(pod)},
            )
        except (errors.NotFound, errors.Conflict):
            return
        logger.info("podgc: deleted pod %s (%s)", meta.ns_name(pod), why)
