"""The StatefulSet controller: pods `<set>-0 … <set>-<n-1>` with stable names, hostnames and
claims, created and deleted in order (OrderedReady) or all at once (Parallel), rolled by
RollingUpdate (from the highest ordinal down to the partition) or OnDelete, with a
ControllerRevision per template (`kubectl rollout history/undo sts/x`).

Each pod's PersistentVolumeClaims (`<template>-<set>-<ordinal>`) are created before it and
outlive it, so a re-created pod gets its data back; the retention policy decides whether the
garbage collector deletes them with the set or after a scale-down. Decisions are in
`statefulset_plan`.
"""

from __future__ import annotations

import asyncio
import logging

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import (
    CONTROLLERREVISIONS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    STATEFULSETS,
)
from minik8s.client import cache
from minik8s.controllers import claims, daemonset_plan, history_plan, replicaset_plan
from minik8s.controllers import statefulset_plan as plan
from minik8s.controllers.base import Controller, write_status
from minik8s.controllers.expectations import Expectations
from minik8s.controllers.history import CollisionBumped, History

logger = logging.getLogger(__name__)

KIND = "StatefulSet"


class ClaimNotReady(Exception):
    """A claim the next pod needs is being deleted: wait for it to go."""


class StatefulSetController(Controller):
    name = "statefulset"

    def register(self) -> None:
        self.expectations = Expectations()
        self.sets = self.ctx.informer(STATEFULSETS)
        self.pods = self.ctx.informer(PODS)
        self.claims = self.ctx.informer(PERSISTENTVOLUMECLAIMS)
        self.revisions = self.ctx.informer(CONTROLLERREVISIONS)
        self.history = History(self.client, self.revisions, STATEFULSETS,
                               history_plan.STATEFULSET_HASH_LABEL)  # fmt: skip
        self.sets.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self._set_deleted
        )
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.claims.add_event_handler(on_delete=self._claim_deleted)

    # --- event handlers ---------------------------------------------------------------------

    def _set_deleted(self, sts: Object) -> None:
        self.expectations.forget(cache.object_key(sts))

    def _pod_added(self, pod: Object) -> None:
        key = claims.owner_key(pod, KIND, self.sets)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif meta.controller_ref(pod) is None:
            for owner in claims.matching_owner_keys(pod, self.sets):
                self.queue.add(owner)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if meta.is_deleting(new) and not meta.is_deleting(old):
            key = claims.owner_key(new, KIND, self.sets)
            if key is not None:
                self.expectations.deletion_observed(key, meta.uid_of(new))
        for key in {claims.owner_key(old, KIND, self.sets), claims.owner_key(new, KIND, self.sets)}:
            if key is not None:
                self.queue.add(key)

    def _pod_deleted(self, pod: Object) -> None:
        key = claims.owner_key(pod, KIND, self.sets)
        if key is not None:
            self.expectations.deletion_observed(key, meta.uid_of(pod))
            self.queue.add(key)

    def _claim_deleted(self, claim: Object) -> None:
        """A pod waiting for a terminating claim of the same name can go on."""
        for owner in claims.matching_owner_keys(claim, self.sets):
            self.queue.add(owner)

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        sts = self.sets.store.get_by_key(key)
        if sts is None:
            self.expectations.forget(key)
            return
        pods = await self._claim(sts)
        if meta.is_deleting(sts):
            return
        try:
            update, old = await self.history.construct(sts)
        except CollisionBumped:
            self.queue.add_after(key, 0.1)
            return
        current = self._current_revision(sts, update, old)
        current_name, update_name = meta.name_of(current), meta.name_of(update)
        now = times.utc_now()
        if self.expectations.satisfied(key):
            status = sts.get("status") or {}
            current_replicas = int(status.get("currentReplicas") or 0)
            step = plan.next_step(sts, pods, update_name, current_replicas, now)
            if step.waiting:
                logger.debug("statefulset %s: %s", key, step.waiting)
            try:
                await self._apply(key, sts, step, current, update)
            except ClaimNotReady as e:
                logger.info("statefulset %s: %s", key, e)
                self.queue.add_after(key, 1.0)
            await self._sync_claim_owners(sts, pods)
        live = {plan.revision_of(p) for p in pods}
        await self.history.prune(sts, old, live)
        status = plan.calculate_status(sts, pods, current_name, update_name, now)
        if status != (sts.get("status") or {}):
            try:
                await write_status(self.client, STATEFULSETS, sts, status)
            except errors.NotFound:
                return
        wait = daemonset_plan.next_availability_check(sts, pods, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    def _current_revision(self, sts: Object, update: Object, old: list[Object]) -> Object:
        name = (sts.get("status") or {}).get("currentRevision")
        for revision in old:
            if meta.name_of(revision) == name:
                return revision
        return update

    async def _claim(self, sts: Object) -> list[Object]:
        candidates = [
            p
            for p in self.pods.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(sts))
            if plan.ordinal_of(p, sts) >= 0
        ]
        claim = replicaset_plan.claim_pods(sts, candidates)
        owned = list(claim.owned)
        await asyncio.gather(*(claims.release(self.client, STATEFULSETS, sts, p)
                               for p in claim.release))  # fmt: skip
        for pod in claim.adopt:
            if await claims.adopt(self.client, STATEFULSETS, sts, pod):
                owned.append(pod)
        return owned

    async def _apply(
        self, key: str, sts: Object, step: plan.Step, current: Object, update: Object
    ) -> None:
        if not step.create and not step.delete:
            return
        self.expectations.expect(key, len(step.create), [meta.uid_of(p) for p in step.delete])
        results = await asyncio.gather(
            *(self._create(sts, ordinal, step.create_revision[ordinal], current, update)
              for ordinal in step.create),
            *(self._delete(sts, pod, pod in step.condemned) for pod in step.delete),
            return_exceptions=True,
        )  # fmt: skip
        skipped = [r for r in results[: len(step.create)] if r is not True]
        if skipped:
            self.expectations.creations_skipped(key, len(skipped))
        for pod, result in zip(step.delete, results[len(step.create) :], strict=True):
            if isinstance(result, BaseException):
                self.expectations.deletion_observed(key, meta.uid_of(pod))
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _create(
        self, sts: Object, ordinal: int, which: str, current: Object, update: Object
    ) -> bool:
        """Create pod `ordinal` (its claims first); False when it exists already."""
        revision = current if which == "current" else update
        template = (
            history_plan.template_of(revision)
            if revision is not update
            else (sts.get("spec") or {}).get("template") or {}
        )
        pod = plan.new_pod(sts, template, ordinal, meta.name_of(revision))
        await self._ensure_claims(sts, ordinal, pod)
        try:
            await self.client.create(PODS, pod)
        except errors.AlreadyExists:
            return False  # the old pod of that name is still there
        except errors.ApiError as e:
            self.recorder.record(sts, "Warning", "FailedCreate",
                                 f"create Pod {meta.name_of(pod)} in StatefulSet "
                                 f"{meta.name_of(sts)} failed error: {e.message}")  # fmt: skip
            raise
        self.recorder.record(sts, "Normal", "SuccessfulCreate",
                             f"create Pod {meta.name_of(pod)} in StatefulSet "
                             f"{meta.name_of(sts)} successful")  # fmt: skip
        return True

    async def _ensure_claims(self, sts: Object, ordinal: int, pod: Object) -> None:
        """Create the pod's missing claims (Kubernetes' createPersistentVolumeClaims)."""
        for claim in plan.new_claims(sts, ordinal):
            existing = self.claims.store.get_by_key(cache.object_key(claim))
            if existing is not None:
                if meta.is_deleting(existing):
                    raise ClaimNotReady(
                        f"pod {meta.name_of(pod)}: claim {meta.name_of(claim)} is being deleted"
                    )
                continue
            refs = plan.claim_owner_refs(sts, claim, None, True)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.client.create(PERSISTENTVOLUMECLAIMS, claim)
            except errors.AlreadyExists:
                continue
            except errors.ApiError as e:
                self.recorder.record(sts, "Warning", "FailedCreate",
                                     f"create Claim {meta.name_of(claim)} for Pod "
                                     f"{meta.name_of(pod)} in StatefulSet {meta.name_of(sts)} "
                                     f"failed error: {e.message}")  # fmt: skip
                raise
            self.recorder.record(sts, "Normal", "SuccessfulCreate",
                                 f"create Claim {meta.name_of(claim)} Pod {meta.name_of(pod)} "
                                 f"in StatefulSet {meta.name_of(sts)} success")  # fmt: skip

    async def _delete(self, sts: Object, pod: Object, condemned: bool) -> None:
        name = meta.name_of(pod)
        if condemned:
            await self._sync_pod_claims(sts, pod, in_range=False)
        elif pod.get("status", {}).get("phase") in ("Failed", "Succeeded"):
            self.recorder.record(sts, "Warning", "RecreatingFailedPod",
                                 f"StatefulSet {meta.ns_name(sts)} is recreating failed Pod "
                                 f"{name}")  # fmt: skip
        try:
            await self.client.delete(PODS, name, meta.namespace_of(pod),
                                     preconditions={"uid": meta.uid_of(pod)})  # fmt: skip
        except (errors.NotFound, errors.Conflict):
            return
        except errors.ApiError as e:
            self.recorder.record(sts, "Warning", "FailedDelete",
                                 f"delete Pod {name} in StatefulSet {meta.name_of(sts)} failed "
                                 f"error: {e.message}")  # fmt: skip
            raise
        message = f"delete Pod {name} in StatefulSet {meta.name_of(sts)} successful"
        self.recorder.record(sts, "Normal", "SuccessfulDelete", message)

    async def _sync_claim_owners(self, sts: Object, pods: list[Object]) -> None:
        """Keep the claims' ownerReferences as the retention policy says (it may change)."""
        in_range, _ = plan.split_pods(sts, pods)
        for pod in in_range.values():
            await self._sync_pod_claims(sts, pod, in_range=True)

    async def _sync_pod_claims(self, sts: Object, pod: Object, in_range: bool) -> None:
        ordinal = plan.ordinal_of(pod, sts)
        for template in plan.new_claims(sts, ordinal):
            claim = self.claims.store.get_by_key(cache.object_key(template))
            if claim is None or meta.is_deleting(claim):
                continue
            wanted = plan.claim_owner_refs(sts, claim, pod, in_range)
            if wanted == meta.owner_references(claim):
                continue
            updated = {**claim, "metadata": {**meta.meta(claim), "ownerReferences": wanted}}
            if not wanted:
                updated["metadata"].pop("ownerReferences")
            try:
                await self.client.update(PERSISTENTVOLUMECLAIMS, updated)
            except (errors.NotFound, errors.Conflict) as e:
                logger.info("statefulset %s: claim %s: %s", meta.ns_name(sts),
                            meta.name_of(claim), e.message)  # fmt: skip
