"""The Deployment controller: roll a Deployment's template out through ReplicaSets.

Each sync claims the Deployment's ReplicaSets, then either only resizes them (paused, or
`spec.replicas` changed) or takes one rollout step (RollingUpdate or Recreate), then writes
the status. The arithmetic is in `rollout`, the status in `rollout_status`; this module only
reads the caches and writes through the API (every ReplicaSet write carries the cached
resourceVersion, so a step computed from a stale cache fails with a conflict and is retried).
"""

from __future__ import annotations

import copy
import logging

from minik8s.api import errors, meta, podutil, selectors, times
from minik8s.api.meta import Object
from minik8s.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from minik8s.client import cache
from minik8s.controllers import replicaset_plan as rsplan
from minik8s.controllers import rollout
from minik8s.controllers import rollout_status as rstatus
from minik8s.controllers.base import Controller, write_status

logger = logging.getLogger(__name__)


class DeploymentController(Controller):
    name = "deployment"

    def register(self) -> None:
        self.deployments = self.ctx.informer(DEPLOYMENTS)
        self.replicasets = self.ctx.informer(REPLICASETS)
        self.pods = self.ctx.informer(PODS)
        self.deployments.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self.enqueue
        )
        self.replicasets.add_event_handler(
            self._rs_changed, lambda old, new: self._rs_updated(old, new), self._rs_changed
        )
        self.pods.add_event_handler(on_delete=self._pod_deleted)

    # --- event handlers ---------------------------------------------------------------------

    def _owner(self, obj: Object) -> Object | None:
        ref = meta.controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.store.get_by_key(f"{meta.namespace_of(obj)}/{ref.get('name')}")
        if d is None or meta.uid_of(d) != ref.get("uid"):
            return None
        return d

    def _rs_changed(self, rs: Object) -> None:
        owner = self._owner(rs)
        if owner is not None:
            self.enqueue(owner)
            return
        if meta.controller_ref(rs) is None:
            labels = meta.labels_of(rs)
            namespace = meta.namespace_of(rs)
            for d in self.deployments.store.by_index(cache.NAMESPACE_INDEX, namespace):
                selector = (d.get("spec") or {}).get("selector")
                try:
                    if selectors.label_selector_from_object(selector).matches(labels):
                        self.enqueue(d)
                except selectors.InvalidSelector:
                    continue

    def _rs_updated(self, old: Object, new: Object) -> None:
        old_owner = self._owner(old)
        if old_owner is not None and meta.controller_ref(new) != meta.controller_ref(old):
            self.enqueue(old_owner)
        self._rs_changed(new)

    def _pod_deleted(self, pod: Object) -> None:
        """Recreate waits for every old pod to be gone."""
        ref = meta.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get_by_key(f"{meta.namespace_of(pod)}/{ref.get('name')}")
        d = self._owner(rs) if rs is not None else None
        if d is not None and not rollout.is_rolling(d):
            self.enqueue(d)

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        d = self.deployments.store.get_by_key(key)
        if d is None:
            return
        d = copy.deepcopy(d)
        spec = d.get("spec") or {}
        if (spec.get("selector") or {}) == {}:
            self.recorder.record(d, "Warning", "SelectingAll",
                                 "This deployment is selecting all pods. A non-empty selector "
                                 "is required.")  # fmt: skip
            return
        rss = await self._claim_replicasets(d)
        if meta.is_deleting(d):
            await self._sync_status(d, rss)
            return
        if spec.get("paused") or rollout.is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
            return
        if rollout.is_rolling(d):
            await self._rollout_rolling(d, rss)
        else:
            await self._rollout_recreate(d, rss)

    async def _claim_replicasets(self, d: Object) -> list[Object]:
        namespace = meta.namespace_of(d)
        candidates = self.replicasets.store.by_index(cache.NAMESPACE_INDEX, namespace)
        claim = rsplan.claim_pods(d, candidates)
        owned = list(claim.owned)
        for rs in claim.release:
            updated = copy.deepcopy(rs)
            meta.remove_owner_reference(updated, meta.uid_of(d))
            await self._ignore_gone(self.client.update(REPLICASETS, updated))
        for rs in claim.adopt:
            updated = copy.deepcopy(rs)
            meta.set_owner_reference(updated, meta.owner_reference(DEPLOYMENTS, d))
            try:
                owned.append(await self.client.update(REPLICASETS, updated))
                logger.info("deployment %s: adopted replicaset %s", meta.ns_name(d),
                            meta.name_of(rs))  # fmt: skip
            except (errors.NotFound, errors.Conflict):
                continue
        return owned

    @staticmethod
    async def _ignore_gone(write: object) -> None:
        try:
            await write  # type: ignore[misc]
        except (errors.NotFound, errors.Conflict):
            pass

    # --- new ReplicaSet and revisions -------------------------------------------------------

    async def _new_and_old(
        self, d: Object, rss: list[Object], create: bool
    ) -> tuple[Object | None, list[Object]]:
        """Find (or create) the ReplicaSet of the current template; sync the revisions."""
        new_rs = rollout.find_new_rs(d, rss)
        olds = [rs for rs in rss if rs is not new_rs]
        max_old = max((rollout.revision(rs) for rs in olds), default=0)
        new_revision = str(max_old + 1)
        if new_rs is not None:
            new_rs = await self._sync_new_rs_annotations(d, new_rs, new_revision)
        elif create:
            new_rs = await self._create_new_rs(d, olds)
            if new_rs is None:
                return None, olds
            new_revision = str(rollout.revision(new_rs))
        else:
            return None, olds
        annotations = meta.meta(d).get("annotations") or {}
        if annotations.get(rollout.REVISION) != new_revision:
            updated = copy.deepcopy(d)
            updated["metadata"].setdefault("annotations", {})[rollout.REVISION] = new_revision
            fresh = await self.client.update(DEPLOYMENTS, updated)
            d["metadata"] = fresh["metadata"]
        return new_rs, olds

    async def _sync_new_rs_annotations(self, d: Object, rs: Object, new_revision: str) -> Object:
        annotations = dict(meta.meta(rs).get("annotations") or {})
        wanted = {**annotations, **rollout.copied_annotations(d)}
        if rollout.revision(rs) < int(new_revision):
            wanted[rollout.REVISION] = new_revision
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        rs_min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if wanted == annotations and min_ready == rs_min_ready:
            return rs
        updated = copy.deepcopy(rs)
        updated["metadata"]["annotations"] = wanted
        updated["spec"]["minReadySeconds"] = min_ready
        return await self.client.update(REPLICASETS, updated)

    async def _create_new_rs(self, d: Object, olds: list[Object]) -> Object | None:
        status = d.setdefault("status", {})
        for _ in range(5):
            collisions = int(status.get("collisionCount") or 0)
            count = rollout.new_rs_new_replicas(d, olds, 0)
            manifest = rollout.new_rs_manifest(d, olds, collisions, count)
            try:
                rs = await self.client.create(REPLICASETS, manifest)
            except errors.AlreadyExists:
                existing = await self.client.get(
                    REPLICASETS, meta.name_of(manifest), meta.namespace_of(d)
                )
                ref = meta.controller_ref(existing)
                same_owner = ref is not None and ref.get("uid") == meta.uid_of(d)
                template = (existing.get("spec") or {}).get("template")
                if same_owner and rollout.templates_equal(template, manifest["spec"]["template"]):
                    return existing  # our own create, not yet in the cache
                status["collisionCount"] = collisions + 1
                logger.info(
                    "deployment %s: hash collision on %s; collisionCount %d",
                    meta.ns_name(d), meta.name_of(manifest), collisions + 1,
                )  # fmt: skip
                continue
            name = meta.name_of(rs)
            logger.info("deployment %s: created replicaset %s (revision %s) with %d replicas",
                        meta.ns_name(d), name, rollout.revision(rs), count)  # fmt: skip
            if count > 0:
                self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                     f"Scaled up replica set {name} to {count}")  # fmt: skip
            now = times.utc_now()
            if rstatus.progress_deadline(d) is not None:
                rstatus.set_condition(status, rstatus.PROGRESSING, "True", rstatus.NEW_RS_CREATED,
                                      f'Created new replica set "{name}"', now)  # fmt: skip
            return rs
        raise errors.Conflict(f"deployment {meta.ns_name(d)}: too many hash collisions")

    # --- scaling ----------------------------------------------------------------------------

    async def _scale(self, d: Object, rs: Object, size: int) -> Object:
        """Resize one ReplicaSet (and note the Deployment size it was sized for)."""
        old = rollout.replicas(rs)
        updated = copy.deepcopy(rs)
        annotations = updated["metadata"].setdefault("annotations", {})
        annotations[rollout.DESIRED_REPLICAS] = str(rollout.replicas(d))
        annotations[rollout.MAX_REPLICAS] = str(rollout.replicas(d) + rollout.max_surge(d))
        updated["spec"]["replicas"] = size
        result = await self.client.update(REPLICASETS, updated)
        if size != old:
            direction = "up" if size > old else "down"
            logger.info("deployment %s: scaled %s replicaset %s from %d to %d",
                        meta.ns_name(d), direction, meta.name_of(rs), old, size)  # fmt: skip
            self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                 f"Scaled {direction} replica set {meta.name_of(rs)} to "
                                 f"{size} from {old}")  # fmt: skip
        return result

    async def _apply_sizes(
        self, d: Object, rss: list[Object], sizes: dict[str, int]
    ) -> list[Object]:
        result = []
        for rs in rss:
            size = sizes.get(meta.name_of(rs))
            result.append(rs if size is None else await self._scale(d, rs, size))
        return result

    async def _sync_scale(self, d: Object, rss: list[Object]) -> None:
        """Paused or resized: scale proportionally, take no rollout step."""
        new_rs, olds = await self._new_and_old(d, rss, create=False)
        sizes = rollout.proportional_sizes(d, new_rs, olds)
        if sizes:
            all_rss = await self._apply_sizes(d, [*olds, *([new_rs] if new_rs else [])], sizes)
            new_rs = next((r for r in all_rss if new_rs is not None
                           and meta.name_of(r) == meta.name_of(new_rs)), None)  # fmt: skip
            olds = [r for r in all_rss if r is not new_rs]
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, olds)
        await self._sync_status(d, [*olds, *([new_rs] if new_rs else [])], new_rs)

    async def _rollout_rolling(self, d: Object, rss: list[Object]) -> None:
        new_rs, olds = await self._new_and_old(d, rss, create=True)
        all_rss = [*olds, *([new_rs] if new_rs else [])]
        if new_rs is not None:
            size = rollout.replicas(new_rs)
            if size > rollout.replicas(d):
                new_size = rollout.replicas(d)
            else:
                new_size = rollout.new_rs_new_replicas(d, all_rss, size)
            if new_size != size:
                new_rs = await self._scale(d, new_rs, new_size)
                await self._finish(d, [*olds, new_rs], new_rs)
                return
        sizes = rollout.old_rs_scale_down(d, new_rs, olds)
        if sizes:
            olds = await self._apply_sizes(d, olds, sizes)
            await self._finish(d, [*olds, *([new_rs] if new_rs else [])], new_rs)
            return
        await self._finish(d, all_rss, new_rs, cleanup_olds=olds)

    async def _rollout_recreate(self, d: Object, rss: list[Object]) -> None:
        new_rs, olds = await self._new_and_old(d, rss, create=False)
        active_olds = [rs for rs in olds if rollout.replicas(rs) > 0]
        if active_olds:
            olds = await self._apply_sizes(d, olds, {meta.name_of(rs): 0 for rs in active_olds})
            await self._finish(d, [*olds, *([new_rs] if new_rs else [])], new_rs)
            return
        if self._old_pods_running(olds):
            await self._finish(d, [*olds, *([new_rs] if new_rs else [])], new_rs)
            return
        if new_rs is None:
            new_rs, olds = await self._new_and_old(d, olds, create=True)
        if new_rs is not None and rollout.replicas(new_rs) != rollout.replicas(d):
            new_rs = await self._scale(d, new_rs, rollout.replicas(d))
        await self._finish(d, [*olds, *([new_rs] if new_rs else [])], new_rs, cleanup_olds=olds)

    def _old_pods_running(self, olds: list[Object]) -> bool:
        for rs in olds:
            if rollout.status_int(rs, "replicas") > 0:
                return True
            for pod in self.pods.store.by_index("controller-uid", meta.uid_of(rs)):
                if podutil.pod_phase(pod) not in ("Succeeded", "Failed"):
                    return True
        return False

    async def _cleanup(self, d: Object, olds: list[Object]) -> None:
        for rs in rollout.history_to_delete(d, olds):
            logger.info("deployment %s: deleting old replicaset %s (revision %d)",
                        meta.ns_name(d), meta.name_of(rs), rollout.revision(rs))  # fmt: skip
            try:
                await self.client.delete(REPLICASETS, meta.name_of(rs), meta.namespace_of(rs))
            except errors.NotFound:
                continue

    async def _finish(
        self,
        d: Object,
        all_rss: list[Object],
        new_rs: Object | None,
        cleanup_olds: list[Object] | None = None,
    ) -> None:
        now = times.utc_now()
        status = rstatus.rollout_status(d, all_rss, new_rs, now)
        if cleanup_olds is not None and rstatus.is_complete(d, status):
            await self._cleanup(d, cleanup_olds)
        await self._write(d, status)
        wait = rstatus.seconds_to_deadline(d, status, now)
        if wait is not None:
            self.queue.add_after(cache.object_key(d), wait)

    async def _sync_status(
        self, d: Object, rss: list[Object], new_rs: Object | None = None
    ) -> None:
        """Status only (paused, resized or being deleted): Progressing is left alone."""
        if new_rs is None:
            new_rs = rollout.find_new_rs(d, rss)
        now = times.utc_now()
        status = rstatus.calculate_status(d, rss, new_rs, now)
        rstatus.paused_condition(d, status, now)
        await self._write(d, status)

    async def _write(self, d: Object, status: dict) -> None:
        cached = self.deployments.store.get_by_key(cache.object_key(d)) or d
        if not rstatus.status_differs(cached.get("status"), status):
            return
        try:
            await write_status(self.client, DEPLOYMENTS, d, status)
        except errors.NotFound:
            return
