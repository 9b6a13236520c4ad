"""The ReplicaSet controller: keep `spec.replicas` pods of the template running.

Pods are claimed through controller ownerReferences (matching orphans adopted, non-matching
pods released), created in slow-start batches and deleted in `replicaset_plan.pods_to_delete`
order. Expectations stop a sync from acting again before the informer has seen its own
creates and deletes.
"""

from __future__ import annotations

import asyncio
import copy
import logging

from minik8s.api import errors, meta, podutil, selectors, times
from minik8s.api.meta import Object
from minik8s.api.resources import PODS, REPLICASETS, ResourceType
from minik8s.client import cache
from minik8s.controllers import replicaset_plan as plan
from minik8s.controllers.base import Controller, write_status
from minik8s.controllers.expectations import Expectations

logger = logging.getLogger(__name__)

POD_CONTROLLER = "replicaset/pod-controller"
"""Pods by their controller's uid, orphans by `orphan/<namespace>`."""


class ReplicaSetController(Controller):
    name = "replicaset"
    resource: ResourceType = REPLICASETS
    """The kind controlled (ReplicationControllers reuse this controller, as in Kubernetes)."""

    def selector_of(self, owner: Object) -> selectors.LabelSelector:
        """The owner's pod selector (raises `selectors.InvalidSelector`)."""
        return selectors.label_selector_from_object((owner.get("spec") or {}).get("selector"))

    def register(self) -> None:
        self.expectations = Expectations()
        self.replicasets = self.ctx.informer(self.resource)
        self.pods = self.ctx.informer(PODS)
        self.replicasets.add_event_handler(
            on_add=self.enqueue,
            on_update=lambda old, new: self.enqueue(new),
            on_delete=self._rs_deleted,
        )
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        if POD_CONTROLLER not in self.pods.store.index_names():  # shared with the RC controller
            self.pods.store.add_indexers({POD_CONTROLLER: plan.index_pod_controller})

    # --- event handlers (only enqueue and count) -------------------------------------------

    def _rs_deleted(self, rs: Object) -> None:
        self.expectations.forget(cache.object_key(rs))

    def _owner_key(self, pod: Object, ref: dict | None = None) -> str | None:
        """The key of the ReplicaSet in the cache that controls `pod`, if any."""
        ref = ref if ref is not None else meta.controller_ref(pod)
        if ref is None or ref.get("kind") != self.resource.kind:
            return None
        key = f"{meta.namespace_of(pod)}/{ref.get('name')}"
        rs = self.replicasets.store.get_by_key(key)
        if rs is None or meta.uid_of(rs) != ref.get("uid"):
            return None
        return key

    def _enqueue_matching(self, pod: Object) -> None:
        """An orphan: wake every ReplicaSet of its namespace that would adopt it."""
        labels = meta.labels_of(pod)
        for rs in self.replicasets.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(pod)):
            try:
                if self.selector_of(rs).matches(labels):
                    self.enqueue(rs)
            except selectors.InvalidSelector:
                continue

    def _pod_added(self, pod: Object) -> None:
        if meta.is_deleting(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif meta.controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if meta.is_deleting(new) and not meta.is_deleting(old):
            self._pod_deleted(new)
            return
        old_key, new_key = self._owner_key(old), self._owner_key(new)
        if old_key is not None and old_key != new_key:
            self.queue.add(old_key)
        if new_key is not None:
            self.queue.add(new_key)
        elif meta.controller_ref(new) is None and (
            meta.labels_of(old) != meta.labels_of(new) or old_key is not None
        ):
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, meta.uid_of(pod))
            self.queue.add(key)

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        rs = self.replicasets.store.get_by_key(key)
        if rs is None:
            self.expectations.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        namespace = meta.namespace_of(rs)
        # its own pods and the namespace's orphans: not every pod of the namespace
        candidates = [
            p
            for value in (meta.uid_of(rs), f"orphan/{namespace or ''}")
            for p in self.pods.store.by_index(POD_CONTROLLER, value)
            if podutil.pod_is_active(p)
        ]
        claim = plan.claim_pods(rs, candidates, self.selector_of(rs))
        owned = list(claim.owned)
        await asyncio.gather(*(self._release(rs, p) for p in claim.release))
        for pod in claim.adopt:
            if await self._adopt(rs, pod):
                owned.append(pod)
        failure: str | None = None
        if needs_sync and not meta.is_deleting(rs):
            failure = await self._manage_replicas(key, rs, owned)
        now = times.utc_now()
        status = plan.calculate_status(rs, owned, now, failure)
        if plan.status_changed(rs.get("status"), status):
            try:
                await write_status(self.client, self.resource, rs, status)
            except errors.NotFound:
                return
        wait = plan.next_availability_check(rs, owned, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _manage_replicas(self, key: str, rs: Object, owned: list[Object]) -> str | None:
        """Create or delete pods towards spec.replicas; the create error, if any."""
        diff = plan.replica_diff(rs, len(owned))
        if diff > 0:
            return await self._create_pods(key, rs, diff)
        if diff < 0:
            await self._delete_pods(key, rs, plan.pods_to_delete(owned, -diff))
        return None

    async def _create_pods(self, key: str, rs: Object, count: int) -> str | None:
        self.expectations.expect_creations(key, count)
        logger.info("replicaset %s: too few replicas, creating %d", key, count)
        batches = plan.slow_start_batches(count)
        sent = 0
        for batch in batches:
            results = await asyncio.gather(
                *(self.client.create(PODS, plan.new_pod(rs, self.resource)) for _ in range(batch)),
                return_exceptions=True,
            )
            sent += batch
            failures = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if isinstance(result, BaseException):
                    self.recorder.record(rs, "Warning", "FailedCreate", f"Error creating: {result}")
                else:
                    self.recorder.record(
                        rs, "Normal", "SuccessfulCreate", f"Created pod: {meta.name_of(result)}"
                    )
            if failures:
                self.expectations.creations_skipped(key, len(failures) + count - sent)
                error = failures[0]
                if not isinstance(error, Exception):
                    raise error
                if isinstance(error, errors.Forbidden) and "being terminated" in str(error):
                    logger.info("replicaset %s: namespace is terminating; not creating", key)
                    return None
                logger.warning("replicaset %s: creating pods failed: %s", key, error)
                return str(error)
        return None

    async def _delete_pods(self, key: str, rs: Object, victims: list[Object]) -> None:
        self.expectations.expect_deletions(key, [meta.uid_of(p) for p in victims])
        logger.info("replicaset %s: too many replicas, deleting %d", key, len(victims))

        async def delete(pod: Object) -> None:
            try:
                await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod))
            except errors.NotFound:
                self.expectations.deletion_observed(key, meta.uid_of(pod))
                return
            except errors.ApiError as e:
                self.expectations.deletion_observed(key, meta.uid_of(pod))
                self.recorder.record(rs, "Warning", "FailedDelete", f"Error deleting: {e}")
                raise
            self.recorder.record(
                rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta.name_of(pod)}"
            )

        results = await asyncio.gather(*(delete(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _adopt(self, rs: Object, pod: Object) -> bool:
        updated = copy.deepcopy(pod)
        meta.set_owner_reference(updated, meta.owner_reference(self.resource, rs))
        try:
            await self.client.update(PODS, updated)
        except (errors.NotFound, errors.Conflict) as e:
            logger.info("replicaset %s: could not adopt pod %s: %s", meta.ns_name(rs),
                        meta.name_of(pod), e.message)  # fmt: skip
            return False
        logger.info("replicaset %s: adopted pod %s", meta.ns_name(rs), meta.name_of(pod))
        return True

    async def _release(self, rs: Object, pod: Object) -> None:
        updated = copy.deepcopy(pod)
        meta.remove_owner_reference(updated, meta.uid_of(rs))
        try:
            await self.client.update(PODS, updated)
        except (errors.NotFound, errors.Conflict) as e:
            logger.info("replicaset %s: could not release pod %s: %s", meta.ns_name(rs),
                        meta.name_of(pod), e.message)  # fmt: skip
            return
        logger.info("replicaset %s: released pod %s", meta.ns_name(rs), meta.name_of(pod))
