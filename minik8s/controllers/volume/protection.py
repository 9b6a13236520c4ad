"""The storage protection controllers (kube-controller-manager's `pvc-protection` and
`pv-protection`): the apiserver puts `kubernetes.io/pvc-protection` on every claim and
`kubernetes.io/pv-protection` on every volume; these remove them once a deleted claim is no
longer used by any scheduled pod, and a deleted volume is no longer Bound, so data in use is
never pulled from under a pod."""

from __future__ import annotations

import logging
from typing import Any

from minik8s.api import errors, meta, podutil, storageutil
from minik8s.api.meta import Object
from minik8s.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, ResourceType
from minik8s.client import cache
from minik8s.controllers.base import COMMON_INDEXERS, Controller

logger = logging.getLogger(__name__)

CLAIM_INDEX = "pvc"
"""Pod informer index: `namespace/claim` of each PersistentVolumeClaim the pod uses."""


def pod_claims(pod: dict[str, Any]) -> list[str]:
    ns = meta.namespace_of(pod)
    return [storageutil.claim_key(ns, name) for name in storageutil.claim_names(pod)]


def claim_in_use(claim: Object, pods: list[Object]) -> bool:
    """Used by a pod that was scheduled (the kubelet may be running it), whatever its phase."""
    return any(podutil.node_name_of(p) for p in pods)


async def remove_finalizer(client: Any, rt: ResourceType, obj: Object, finalizer: str) -> None:
    finalizers = [f for f in meta.finalizers_of(obj) if f != finalizer]
    metadata = {**meta.meta(obj), "finalizers": finalizers}
    try:
        await client.update(rt, {**obj, "metadata": metadata})
    except errors.NotFound:
        return
    logger.info("%s %s: removed finalizer %s", rt.singular, meta.ns_name(obj), finalizer)


class PVCProtectionController(Controller):
    name = "pvc-protection"

    def register(self) -> None:
        self.claims = self.ctx.informer(PERSISTENTVOLUMECLAIMS)
        self.pods = self.ctx.informers.informer(
            PODS, indexers={**COMMON_INDEXERS, CLAIM_INDEX: pod_claims}
        )
        self.claims.add_event_handler(
            self._claim_changed, lambda old, new: self._claim_changed(new)
        )
        self.pods.add_event_handler(on_update=self._pod_updated, on_delete=self._pod_gone)

    def _claim_changed(self, claim: Object) -> None:
        if meta.is_deleting(claim) and storageutil.PVC_PROTECTION in meta.finalizers_of(claim):
            self.enqueue(claim)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if podutil.is_terminal(new) or meta.is_deleting(new):
            self._pod_gone(new)

    def _pod_gone(self, pod: Object) -> None:
        for key in pod_claims(pod):
            claim = self.claims.store.get_by_key(key)
            if claim is not None:
                self._claim_changed(claim)

    async def reconcile(self, key: str) -> None:
        claim = self.claims.store.get_by_key(key)
        if claim is None or not meta.is_deleting(claim):
            return
        if storageutil.PVC_PROTECTION not in meta.finalizers_of(claim):
            return
        if claim_in_use(claim, self.pods.store.by_index(CLAIM_INDEX, key)):
            logger.debug("persistentvolumeclaim %s: still used by a pod", key)
            return
        await remove_finalizer(self.client, PERSISTENTVOLUMECLAIMS, claim,
                               storageutil.PVC_PROTECTION)  # fmt: skip


class PVProtectionController(Controller):
    name = "pv-protection"

    def register(self) -> None:
        self.volumes = self.ctx.informer(PERSISTENTVOLUMES)
        self.volumes.add_event_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, pv: Object) -> None:
        if meta.is_deleting(pv) and storageutil.PV_PROTECTION in meta.finalizers_of(pv):
            self.queue.add(cache.object_key(pv))

    async def reconcile(self, key: str) -> None:
        pv = self.volumes.store.get_by_key(key)
        if pv is None or not meta.is_deleting(pv):
            return
        if storageutil.PV_PROTECTION not in meta.finalizers_of(pv):
            return
        if (pv.get("status") or {}).get("phase") == "Bound":
            return
        await remove_finalizer(self.client, PERSISTENTVOLUMES, pv, storageutil.PV_PROTECTION)
