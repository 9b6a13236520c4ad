"""The disruption controller: keep each PodDisruptionBudget's status (currentHealthy,
desiredHealthy, expectedPods, disruptionsAllowed, disruptedPods, the DisruptionAllowed
condition) true to its pods, so that `pods/<name>/eviction` can decide (decisions in
`disruption_plan`).

For `maxUnavailable` and percentages, the expected count is the scale of the pods'
controllers: a Deployment (through its ReplicaSet), a ReplicaSet, a ReplicationController,
or any kind with a `scale` subresource (read through the API).
"""

from __future__ import annotations

import logging

from minik8s.api import errors, meta, resources, selectors, times
from minik8s.api.meta import Object
from minik8s.api.resources import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
)
from minik8s.client import cache
from minik8s.controllers import disruption_plan as plan
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


class DisruptionController(Controller):
    name = "disruption"

    def register(self) -> None:
        self.pdbs = self.ctx.informer(PODDISRUPTIONBUDGETS)
        self.pods = self.ctx.informer(PODS)
        self.replicasets = self.ctx.informer(REPLICASETS)
        self.deployments = self.ctx.informer(DEPLOYMENTS)
        self.rcs = self.ctx.informer(REPLICATIONCONTROLLERS)
        self.pdbs.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.pods.add_event_handler(
            self._pod_changed, lambda old, new: self._pod_changed(new), self._pod_changed
        )
        for informer in (self.replicasets, self.deployments, self.rcs):
            informer.add_event_handler(
                self._scale_changed, lambda old, new: self._scale_changed(new)
            )

    def _pod_changed(self, pod: Object) -> None:
        labels = meta.labels_of(pod)
        for pdb in self.pdbs.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(pod)):
            try:
                selector = selectors.label_selector_from_object(
                    (pdb.get("spec") or {}).get("selector")
                )
            except selectors.InvalidSelector:
                continue
            if selector.matches(labels):
                self.enqueue(pdb)

    def _scale_changed(self, owner: Object) -> None:
        for pdb in self.pdbs.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(owner)):
            if plan.needs_scale(pdb):
                self.enqueue(pdb)

    async def reconcile(self, key: str) -> None:
        pdb = self.pdbs.store.get_by_key(key)
        if pdb is None:
            return
        now = times.utc_now()
        pods = plan.selected_pods(
            pdb, self.pods.store.by_index(cache.NAMESPACE_INDEX, meta.namespace_of(pdb))
        )
        recheck = None
        try:
            scale = await self._scale(pods) if plan.needs_scale(pdb) else None
            wanted = plan.expected(pdb, pods, scale)
            status, recheck = plan.compute_status(pdb, pods, wanted, now)
        except plan.NoController as e:
            self.recorder.record(pdb, "Warning", "NoControllers", str(e))
            status = plan.failed_status(pdb, str(e), now)
        if plan.status_changed(pdb.get("status"), status):
            try:
                await self.client.update_status(PODDISRUPTIONBUDGETS, {**pdb, "status": status})
            except errors.NotFound:
                return
        if recheck is not None:
            self.queue.add_after(key, recheck + 0.1)

    async def _scale(self, pods: list[Object]) -> int:
        """The summed replicas of the pods' controllers (each controller once)."""
        replicas: dict[str, int] = {}
        for pod in pods:
            ref = meta.controller_ref(pod)
            if ref is None:
                raise plan.NoController(f"found no controllers for pod {meta.name_of(pod)!r}")
            uid, count = await self._controller_scale(meta.namespace_of(pod), ref)
            replicas[uid] = count
        return sum(replicas.values())

    async def _controller_scale(self, namespace: str, ref: dict) -> tuple[str, int]:
        kind, name = ref.get("kind"), str(ref.get("name"))
        if kind == "ReplicaSet":
            rs = self.replicasets.store.get_by_key(f"{namespace}/{name}")
            if rs is not None and meta.uid_of(rs) == ref.get("uid"):
                owner = meta.controller_ref(rs)
                if owner is not None and owner.get("kind") == "Deployment":
                    deploy = self.deployments.store.get_by_key(f"{namespace}/{owner.get('name')}")
                    if deploy is not None and meta.uid_of(deploy) == owner.get("uid"):
                        return meta.uid_of(deploy), int(
                            (deploy.get("spec") or {}).get("replicas", 1)
                        )
                return meta.uid_of(rs), int((rs.get("spec") or {}).get("replicas", 1))
        if kind == "ReplicationController":
            rc = self.rcs.store.get_by_key(f"{namespace}/{name}")
            if rc is not None and meta.uid_of(rc) == ref.get("uid"):
                return meta.uid_of(rc), int((rc.get("spec") or {}).get("replicas", 1))
        rt = resources.by_kind(str(ref.get("apiVersion")), str(kind))
        if rt is not None and "scale" in rt.subresources:
            try:
                scale = await self.client.get_subresource(rt, name, "scale", namespace)
            except errors.NotFound:
                pass
            else:
                return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas", 0))
        raise plan.NoController(f"found no controllers for a pod of {kind} {name!r}")
