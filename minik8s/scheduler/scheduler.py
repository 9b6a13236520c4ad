"""The scheduler loop: informers feed the queue and the cache; while leading, pods are popped
one at a time, placed by `algorithm.schedule`, assumed on their node, and bound in the
background (like Kubernetes' binding cycle), so the next decision need not wait for the
apiserver. A pod that fits nowhere gets `PodScheduled=False/Unschedulable` and an Event, and
waits for the cluster to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from typing import Any

from minik8s.api import errors, meta, storageutil, times
from minik8s.api.resources import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STORAGECLASSES,
)
from minik8s.client import cache as informer_cache
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer, strip_managed_fields
from minik8s.componentbase.events import EventRecorder
from minik8s.scheduler import algorithm, metrics, volumebinding
from minik8s.scheduler.cache import SchedulerCache
from minik8s.scheduler.config import SchedulerSettings
from minik8s.scheduler.nodeinfo import NodeInfo, PodInfo, is_unscheduled, node_info, pod_info
from minik8s.scheduler.queue import QueuedPod, SchedulingQueue

logger = logging.getLogger(__name__)

NON_TERMINAL_PODS = "status.phase!=Succeeded,status.phase!=Failed"
"""The field selector of the scheduler's pod informer, as kube-scheduler's."""

UNSCHEDULED_INDEX = "unscheduled"
"""Index of the pod informer: value "true" for pods this scheduler should place."""


def scheduling_relevant_change(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a pending pod's update may change where it fits (not a status-only change)."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    return old.get("spec") != new.get("spec") or old_meta.get("labels") != new_meta.get("labels")


def node_change_matters(old: NodeInfo, new: NodeInfo) -> bool:
    """Whether a node update may let a parked pod fit (heartbeats alone do not)."""
    return (
        old.labels != new.labels
        or old.unschedulable != new.unschedulable
        or old.ready != new.ready
        or old.taints != new.taints
        or old.allocatable_cpu != new.allocatable_cpu
        or old.allocatable_memory != new.allocatable_memory
        or old.allocatable_pods != new.allocatable_pods
    )


def unschedulable_condition_current(pod: dict[str, Any], message: str) -> bool:
    """Whether the pod already says `PodScheduled=False/Unschedulable` with this message."""
    condition = meta.get_condition(pod, "PodScheduled") or {}
    return (
        condition.get("status") == "False"
        and condition.get("reason") == "Unschedulable"
        and condition.get("message") == message
    )


class Scheduler:
    def __init__(
        self,
        client: ApiClient,
        settings: SchedulerSettings,
        recorder: EventRecorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.recorder = recorder
        self.rng = rng or random.Random()
        self.cache = SchedulerCache(settings.assumed_ttl)
        self.queue = SchedulingQueue(
            settings.initial_backoff, settings.max_backoff, settings.unschedulable_timeout
        )
        name = settings.scheduler_name
        # Like kube-scheduler's pod informer: terminal pods left out (one that finishes comes
        # as a deletion, and its later writes, e.g. a Job's finalizer removal, not at all),
        # managedFields trimmed for memory.
        self.pods = Informer(
            client, PODS, field_selector=NON_TERMINAL_PODS, transform=strip_managed_fields,
            indexers={UNSCHEDULED_INDEX: lambda p: ["true"] if is_unscheduled(p, name) else []},
        )  # fmt: skip
        self.nodes = Informer(client, NODES, transform=strip_managed_fields)
        self.claims = Informer(client, PERSISTENTVOLUMECLAIMS)
        self.volumes = Informer(client, PERSISTENTVOLUMES)
        self.classes = Informer(client, STORAGECLASSES)
        self.pods.add_event_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        for storage in (self.claims, self.volumes, self.classes):
            storage.add_event_handler(
                lambda _: self._cluster_changed(), lambda _, __: self._cluster_changed()
            )
        self.nodes.add_event_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self.leading = False
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_binds_in_flight)
        self._background: set[asyncio.Task[None]] = set()
        self._next_start = 0
        metrics.watch_queue_depths(self.queue.depths)

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def _informers(self) -> tuple[Informer, ...]:
        return (self.nodes, self.pods, self.claims, self.volumes, self.classes)

    def start_informers(self) -> None:
        for informer in self._informers:
            informer.start()

    @property
    def synced(self) -> bool:
        return all(i.has_synced for i in self._informers)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        for informer in self._informers:
            if not await informer.wait_synced(timeout):
                return False
        return True

    async def stop(self) -> None:
        await tasks.cancel_and_wait(list(self._background))
        for informer in self._informers:
            await informer.stop()

    async def run(self) -> None:
        """Schedule until cancelled (while this process leads)."""
        await self.wait_synced()
        self.leading = True
        metrics.LEADER.set(1)
        logger.info(
            "scheduling: %d nodes, %d pods pending",
            len(self.cache.node_list()), len(self.queue),
        )  # fmt: skip
        housekeeping = tasks.spawn(self._housekeeping(), "scheduler housekeeping")
        try:
            while True:
                await self._schedule_next()
        finally:
            self.leading = False
            metrics.LEADER.set(0)
            await tasks.cancel_and_wait([housekeeping, *self._background])
            self._reset_after_leading()

    def _reset_after_leading(self) -> None:
        """Drop assumptions whose outcome is unknown and queue every pod still pending."""
        for key in self.cache.assumed_keys():
            self.cache.forget(key)
        self.queue.abandon_in_flight()
        now = time.monotonic()
        for obj in self.pods.store.by_index(UNSCHEDULED_INDEX, "true"):
            self.queue.requeue_in_flight(pod_info(obj), now)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.housekeeping_period)
            now = time.monotonic()
            for key in self.cache.expire(now):
                logger.warning("pod %s: binding never confirmed by the watch; retrying", key)
                obj = self.pods.store.get_by_key(key)
                if obj is not None and is_unscheduled(obj, self.settings.scheduler_name):
                    self.queue.requeue_in_flight(pod_info(obj), now)
            self._wakeup.set()

    # --- the scheduling cycle --------------------------------------------------------------

    async def _schedule_next(self) -> None:
        await self._slots.acquire()  # one slot per pod whose request is still outstanding
        now = time.monotonic()
        qp = self.queue.pop(now)
        if qp is None:
            self._slots.release()
            await self._idle(now)
            return
        if not self._schedule_one(qp, now):
            self._slots.release()
        await asyncio.sleep(0)  # let watch events and responses in between two pods

    async def _idle(self, now: float) -> None:
        self._wakeup.clear()
        ready_at = self.queue.next_ready_at()
        if ready_at == 0.0:
            return
        timeout = None if ready_at is None else max(0.0, ready_at - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _schedule_one(self, qp: QueuedPod, now: float) -> bool:
        """Decide for one pod; True when a request was spawned for it (it frees the slot)."""
        pod = qp.pod
        obj = self.pods.store.get_by_key(pod.key)
        if obj is None or not is_unscheduled(obj, self.settings.scheduler_name):
            self.queue.done(pod.key)
            return False
        delayed: tuple[str, ...] = ()
        if pod.claims:
            volumes = self._volume_decision(pod)
            if volumes.error:
                total = len(self.cache.node_list())
                message = f"0/{total} nodes are available: {volumes.error}."
                return self._unschedulable(qp, obj, message, now)
            pod = dataclasses.replace(pod, volume_constraints=volumes.constraints)
            delayed = volumes.delayed
        try:
            decision = algorithm.schedule(
                pod, self.cache.node_list(), self._next_start, self.rng,
                self.settings.percentage_of_nodes_to_score,
            )  # fmt: skip
        except Exception:
            logger.exception("pod %s: scheduling failed", pod.key)
            metrics.ERROR.inc()
            self.queue.add_backoff(pod.key, now)
            return False
        metrics.ALGORITHM_LATENCY.observe(time.monotonic() - now)
        self._next_start = decision.next_start
        if decision.node is None:
            return self._unschedulable(qp, obj, decision.message, now)
        node = decision.node.name
        self.cache.assume(pod, node)
        self._spawn(self._bind(qp, node, delayed), f"bind {pod.key}")
        return True

    def _volume_decision(self, pod: PodInfo) -> volumebinding.VolumeDecision:
        return volumebinding.decide(
            pod, self.claims.store.items(), self.volumes.store.items(), self.classes.store.items()
        )

    def _spawn(self, coro: Any, name: str) -> None:
        task = tasks.spawn(coro, name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda _: self._slots.release())

    async def _bind(self, qp: QueuedPod, node: str, delayed: tuple[str, ...] = ()) -> None:
        pod = qp.pod
        started = time.monotonic()
        try:
            for claim in delayed:  # the volume binder and provisioner act on this (PreBind)
                await self.client.patch(
                    PERSISTENTVOLUMECLAIMS, claim,
                    {"metadata": {"annotations": {storageutil.SELECTED_NODE: node}}},
                    namespace=pod.namespace, patch_type="merge",
                )  # fmt: skip
            await self.client.bind(pod.namespace, pod.name, node)
        except (errors.Conflict, errors.AlreadyExists, errors.NotFound) as e:
            # Bound by someone else, being deleted, or gone: the watch tells the rest.
            logger.info("pod %s: not bound to %s: %s", pod.key, node, e.message)
            self.cache.forget(pod.key)
            self.queue.done(pod.key)
            metrics.ERROR.inc()
            return
        except errors.ApiError as e:
            logger.warning("pod %s: binding to %s failed: %s; retrying", pod.key, node, e.message)
            self.cache.forget(pod.key)
            self.queue.add_backoff(pod.key, time.monotonic())
            self._wakeup.set()
            metrics.ERROR.inc()
            return
        now = time.monotonic()
        self.cache.finish_binding(pod.key, now)
        self.queue.done(pod.key)
        metrics.SCHEDULED.inc()
        metrics.BINDING_LATENCY.observe(now - started)
        metrics.E2E_LATENCY.observe(now - qp.added)
        logger.debug("pod %s: bound to %s", pod.key, node)
        if self.recorder is not None and self.settings.record_scheduled_events:
            message = f"Successfully assigned {pod.key} to {node}"
            self.recorder.record(pod.obj, "Normal", "Scheduled", message)

    def _unschedulable(self, qp: QueuedPod, obj: dict[str, Any], message: str, now: float) -> bool:
        pod = qp.pod
        self.queue.add_unschedulable(pod.key, now)
        metrics.UNSCHEDULABLE.inc()
        logger.info("pod %s: unschedulable (attempt %d): %s", pod.key, qp.attempts, message)
        if self.recorder is not None:
            self.recorder.record(obj, "Warning", "FailedScheduling", message)
        if unschedulable_condition_current(obj, message):
            return False
        self._spawn(self._set_unschedulable(pod, message), f"status {pod.key}")
        return True

    async def _set_unschedulable(self, pod: PodInfo, message: str) -> None:
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": times.now_rfc3339(),
        }
        try:
            await self.client.patch(
                PODS, pod.name, {"status": {"conditions": [condition]}},
                namespace=pod.namespace, patch_type="strategic", subresource="status",
            )  # fmt: skip
        except errors.NotFound:
            pass
        except errors.ApiError as e:
            logger.warning("pod %s: cannot set PodScheduled=False: %s", pod.key, e.message)

    # --- informer handlers (short: they only update the cache and the queue) ---------------

    def _cluster_changed(self) -> None:
        if self.queue.move_all(time.monotonic()):
            self._wakeup.set()

    def _on_pod_add(self, obj: dict[str, Any]) -> None:
        if is_unscheduled(obj, self.settings.scheduler_name):
            self.queue.add(pod_info(obj), time.monotonic())
            self._wakeup.set()
        elif (obj.get("spec") or {}).get("nodeName"):
            self.cache.set_pod(pod_info(obj))

    def _on_pod_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        key = informer_cache.object_key(new)
        if (new.get("spec") or {}).get("nodeName"):
            self.queue.delete(key)
            was_counted = self.cache.node_of(key) is not None
            info = pod_info(new)
            self.cache.set_pod(info)
            if was_counted and info.terminal:
                self._cluster_changed()  # its resources are free again
        elif is_unscheduled(new, self.settings.scheduler_name):
            changed = scheduling_relevant_change(old, new)
            self.queue.update(pod_info(new), time.monotonic(), changed)
            self._wakeup.set()
        else:
            self.queue.delete(key)

    def _on_pod_delete(self, obj: dict[str, Any]) -> None:
        key = informer_cache.object_key(obj)
        self.queue.delete(key)
        if self.cache.node_of(key) is not None:
            self.cache.remove_pod(key)
            self._cluster_changed()

    def _on_node_add(self, obj: dict[str, Any]) -> None:
        self.cache.set_node(obj)
        self._cluster_changed()

    def _on_node_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        before = self.cache.nodes.get((new.get("metadata") or {}).get("name") or "")
        snapshot = node_info(old) if before is None else _spec_of(before)
        after = self.cache.set_node(new)
        if node_change_matters(snapshot, after):
            self._cluster_changed()

    def _on_node_delete(self, obj: dict[str, Any]) -> None:
        self.cache.remove_node((obj.get("metadata") or {}).get("name") or "")


def _spec_of(info: NodeInfo) -> NodeInfo:
    """A copy of the node's parsed spec/status (without its pods), to compare after an update."""
    copy = NodeInfo(name=info.name)
    copy.update_from(info)
    return copy
