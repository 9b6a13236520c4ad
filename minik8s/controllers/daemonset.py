"""The DaemonSet controller: one pod per eligible node, kept up to date by RollingUpdate or
OnDelete, with a ControllerRevision per template (`kubectl rollout history/undo ds/x`).

Pods are claimed like the ReplicaSet's (controller references, orphans adopted); each daemon
pod is pinned to its node by a `metadata.name` node-affinity term and bound by the scheduler.
Expectations stop a sync from acting again before the informer has seen its own writes.
Decisions are in `daemonset_plan`.
"""

from __future__ import annotations

import asyncio
import logging

from minik8s.api import errors, meta, podutil, times
from minik8s.api.meta import Object
from minik8s.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from minik8s.client import cache
from minik8s.controllers import claims, history_plan, replicaset_plan
from minik8s.controllers import daemonset_plan as plan
from minik8s.controllers.base import Controller, write_status
from minik8s.controllers.expectations import Expectations
from minik8s.controllers.history import CollisionBumped, History

logger = logging.getLogger(__name__)

KIND = "DaemonSet"


class DaemonSetController(Controller):
    name = "daemonset"

    def register(self) -> None:
        self.expectations = Expectations()
        self.daemonsets = self.ctx.informer(DAEMONSETS)
        self.pods = self.ctx.informer(PODS)
        self.nodes = self.ctx.informer(NODES)
        self.revisions = self.ctx.informer(CONTROLLERREVISIONS)
        self.history = History(self.client, self.revisions, DAEMONSETS,
                               history_plan.DAEMONSET_HASH_LABEL)  # fmt: skip
        self.daemonsets.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self._ds_deleted
        )
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_event_handler(self._node_changed, self._node_updated, self._node_changed)

    # --- event handlers ---------------------------------------------------------------------

    def _ds_deleted(self, ds: Object) -> None:
        self.expectations.forget(cache.object_key(ds))

    def _enqueue_all(self) -> None:
        for key in self.daemonsets.store.keys():
            self.queue.add(key)

    def _node_changed(self, node: Object) -> None:
        self._enqueue_all()

    def _node_updated(self, old: Object, new: Object) -> None:
        if meta.labels_of(old) != meta.labels_of(new) or (old.get("spec") or {}) != (
            new.get("spec") or {}
        ):
            self._enqueue_all()

    def _pod_added(self, pod: Object) -> None:
        key = claims.owner_key(pod, KIND, self.daemonsets)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif meta.controller_ref(pod) is None:
            for owner in claims.matching_owner_keys(pod, self.daemonsets):
                self.queue.add(owner)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if meta.is_deleting(new) and not meta.is_deleting(old):
            key = claims.owner_key(new, KIND, self.daemonsets)
            if key is not None:
                self.expectations.deletion_observed(key, meta.uid_of(new))
        old_key = claims.owner_key(old, KIND, self.daemonsets)
        new_key = claims.owner_key(new, KIND, self.daemonsets)
        for key in {old_key, new_key} - {None}:
            self.queue.add(key)  # type: ignore[arg-type]
        if new_key is None and meta.controller_ref(new) is None:
            for owner in claims.matching_owner_keys(new, self.daemonsets):
                self.queue.add(owner)

    def _pod_deleted(self, pod: Object) -> None:
        key = claims.owner_key(pod, KIND, self.daemonsets)
        if key is not None:
            self.expectations.deletion_observed(key, meta.uid_of(pod))
            self.queue.add(key)

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        ds = self.daemonsets.store.get_by_key(key)
        if ds is None:
            self.expectations.forget(key)
            return
        pods = await self._claim(ds)
        nodes = self.nodes.store.list()
        if meta.is_deleting(ds):
            return
        try:
            current, old = await self.history.construct(ds)
        except CollisionBumped:
            self.queue.add_after(key, 0.1)
            return
        hash_ = meta.labels_of(current).get(history_plan.DAEMONSET_HASH_LABEL, "")
        by_node = plan.pods_by_node(pods)
        now = times.utc_now()
        if self.expectations.satisfied(key):
            step = plan.manage(ds, nodes, by_node, hash_)
            if step.empty and _is_rolling(ds):
                step = plan.rolling_update(ds, nodes, by_node, hash_, now)
            if not step.empty:
                await self._apply(key, ds, step, hash_)
        live = {
            meta.name_of(r)
            for r in old
            if any(plan.is_updated(p, meta.labels_of(r).get(history_plan.DAEMONSET_HASH_LABEL, ""))
                   for p in pods)
        }  # fmt: skip
        await self.history.prune(ds, old, live)
        status = plan.calculate_status(ds, nodes, by_node, hash_, now)
        if status != (ds.get("status") or {}):
            try:
                await write_status(self.client, DAEMONSETS, ds, status)
            except errors.NotFound:
                return
        wait = plan.next_availability_check(ds, pods, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _claim(self, ds: Object) -> list[Object]:
        """The pods `ds` controls, after adopting matching orphans and releasing strays."""
        candidates = [
            p
            for p in self.pods.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(ds))
            if not podutil.is_terminal(p) or meta.is_controlled_by(p, ds)
        ]
        claim = replicaset_plan.claim_pods(ds, candidates)
        owned = list(claim.owned)
        await asyncio.gather(
            *(claims.release(self.client, DAEMONSETS, ds, p) for p in claim.release)
        )
        for pod in claim.adopt:
            if await claims.adopt(self.client, DAEMONSETS, ds, pod):
                owned.append(pod)
        return owned

    async def _apply(self, key: str, ds: Object, step: plan.Plan, hash_: str) -> None:
        deletions = step.delete + step.force_delete
        self.expectations.expect(key, len(step.create_on), [meta.uid_of(p) for p in deletions])
        if step.create_on:
            logger.info("daemonset %s: creating pods on %d node(s)", key, len(step.create_on))
        if deletions:
            logger.info("daemonset %s: deleting %d pod(s)", key, len(deletions))
        results = await asyncio.gather(
            *(self._create(key, ds, node, hash_) for node in step.create_on),
            *(self._delete(key, ds, pod, None) for pod in step.delete),
            *(self._delete(key, ds, pod, 0) for pod in step.force_delete),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _create(self, key: str, ds: Object, node: str, hash_: str) -> None:
        try:
            pod = await self.client.create(PODS, plan.new_pod(ds, node, hash_))
        except errors.ApiError as e:
            self.expectations.creations_skipped(key, 1)
            if isinstance(e, errors.Forbidden) and "being terminated" in str(e):
                return
            self.recorder.record(ds, "Warning", "FailedCreate", f"Error creating: {e.message}")
            raise
        self.recorder.record(ds, "Normal", "SuccessfulCreate",
                             f"Created pod: {meta.name_of(pod)}")  # fmt: skip

    async def _delete(self, key: str, ds: Object, pod: Object, grace: int | None) -> None:
        try:
            await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod),
                                     grace_period_seconds=grace)  # fmt: skip
        except errors.NotFound:
            self.expectations.deletion_observed(key, meta.uid_of(pod))
            return
        except errors.ApiError as e:
            self.expectations.deletion_observed(key, meta.uid_of(pod))
            self.recorder.record(ds, "Warning", "FailedDelete", f"Error deleting: {e.message}")
            raise
        self.recorder.record(ds, "Normal", "SuccessfulDelete",
                             f"Deleted pod: {meta.name_of(pod)}")  # fmt: skip


def _is_rolling(ds: Object) -> bool:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
