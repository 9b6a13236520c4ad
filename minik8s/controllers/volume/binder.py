"""The PersistentVolume controller (kube-controller-manager's `persistentvolume-binder`):
binds claims to volumes, static and provisioned, keeps both phases, gives a claim without a
class the default one, and fails the reclaim of static volumes whose policy is Delete (no
plugin can delete them; the local-path provisioner deletes its own). Decisions are in
`binder_plan`.

Queue keys are `claim|<namespace>/<name>` and `volume|<name>`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from minik8s.api import errors, meta, storageutil, times
from minik8s.api.meta import Object
from minik8s.api.resources import NODES, PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES
from minik8s.client import cache
from minik8s.controllers import nodeaffinity
from minik8s.controllers.base import Controller
from minik8s.controllers.volume import binder_plan as plan

logger = logging.getLogger(__name__)

CLAIM = "claim|"
VOLUME = "volume|"


class PersistentVolumeBinder(Controller):
    name = "persistentvolume-binder"

    def register(self) -> None:
        self.claims = self.ctx.informer(PERSISTENTVOLUMECLAIMS)
        self.volumes = self.ctx.informer(PERSISTENTVOLUMES)
        self.classes = self.ctx.informer(STORAGECLASSES)
        self.nodes = self.ctx.informer(NODES)
        self._reported: dict[str, str] = {}
        """Claim uid → the last reason recorded for it (one Event per state, not per sync)."""
        self.claims.add_event_handler(
            self._claim_changed, lambda old, new: self._claim_changed(new), self._claim_deleted
        )
        self.volumes.add_event_handler(
            self._volume_changed, lambda old, new: self._volume_changed(new), self._volume_changed
        )
        self.classes.add_event_handler(
            self._class_changed, lambda old, new: self._class_changed(new)
        )

    # --- event handlers ---------------------------------------------------------------------

    def _claim_changed(self, claim: Object) -> None:
        self.queue.add(CLAIM + cache.object_key(claim))
        volume = (claim.get("spec") or {}).get("volumeName")
        if volume:
            self.queue.add(VOLUME + volume)

    def _claim_deleted(self, claim: Object) -> None:
        self._reported.pop(meta.uid_of(claim), None)
        for pv in self.volumes.store.list():
            if storageutil.claim_ref_matches(pv, claim):
                self.queue.add(VOLUME + meta.name_of(pv))

    def _volume_changed(self, pv: Object) -> None:
        self.queue.add(VOLUME + meta.name_of(pv))
        ref = (pv.get("spec") or {}).get("claimRef")
        if ref:
            self.queue.add(CLAIM + storageutil.claim_key(ref.get("namespace", ""),
                                                         ref.get("name", "")))  # fmt: skip
        else:
            self._wake_pending()

    def _class_changed(self, sc: Object) -> None:
        self._wake_pending()

    def _wake_pending(self) -> None:
        for claim in self.claims.store.list():
            if not (claim.get("spec") or {}).get("volumeName"):
                self.queue.add(CLAIM + cache.object_key(claim))

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith(CLAIM):
            claim = self.claims.store.get_by_key(key[len(CLAIM) :])
            if claim is not None:
                await self._sync_claim(claim)
        else:
            pv = self.volumes.store.get_by_key(key[len(VOLUME) :])
            if pv is not None:
                await self._sync_volume(pv)

    def _classes(self) -> dict[str, Object]:
        return {meta.name_of(sc): sc for sc in self.classes.store.list()}

    async def _sync_claim(self, claim: Object) -> None:
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name:
            await self._sync_unbound(claim)
            return
        pv = self.volumes.store.get_by_key(volume_name)
        if pv is None:
            if (claim.get("status") or {}).get("phase") == "Bound":
                await self._claim_status(claim, {**(claim.get("status") or {}), "phase": "Lost"})
                self._report(claim, "Warning", "ClaimLost", plan.CLAIM_LOST)
            return
        ref = (pv.get("spec") or {}).get("claimRef")
        if not ref:
            await self._bind(claim, pv, by_controller=False)
        elif storageutil.claim_ref_matches(pv, claim):
            await self._finish_claim(claim, pv, by_controller=False)
        elif (claim.get("status") or {}).get("phase") != "Bound":
            message = f'volume "{volume_name}" already bound to a different claim.'
            self._report(claim, "Warning", "FailedBinding", message)

    async def _sync_unbound(self, claim: Object) -> None:
        classes = self._classes()
        if storageutil.claim_class(claim) is None:
            default = storageutil.default_class(classes.values())
            if default is not None:  # a default class created after the claim (retroactive)
                spec = {**(claim.get("spec") or {}), "storageClassName": meta.name_of(default)}
                await self._update_claim({**claim, "spec": spec})
                return
        pv = plan.find_volume(claim, self.volumes.store.list(), self._node_check(claim, classes))
        if pv is not None:
            await self._bind(claim, pv, by_controller=True)
            return
        if meta.is_deleting(claim):
            return
        waiting = plan.why_pending(claim, classes)
        self._report(claim, waiting.type, waiting.reason, waiting.message)
        annotations = meta.annotations_of(claim)
        if (
            waiting.provisioner
            and annotations.get(storageutil.STORAGE_PROVISIONER) != waiting.provisioner
        ):
            annotations[storageutil.STORAGE_PROVISIONER] = waiting.provisioner
            annotations[storageutil.BETA_STORAGE_PROVISIONER] = waiting.provisioner
            metadata = {**meta.meta(claim), "annotations": annotations}
            await self._update_claim({**claim, "metadata": metadata})

    def _node_check(self, claim: Object, classes: Mapping[str, Object]) -> Any:
        """For a WaitForFirstConsumer claim: volumes must reach the scheduler's chosen node."""
        sc = classes.get(storageutil.claim_class(claim) or "")
        if sc is None or sc.get("volumeBindingMode") != storageutil.WAIT_FOR_FIRST_CONSUMER:
            return None
        selected = meta.annotations_of(claim).get(storageutil.SELECTED_NODE)
        node = self.nodes.store.get_by_key(selected) if selected else None
        if node is None:
            return lambda pv: False  # wait for the scheduler (or for the node to appear)
        return lambda pv: nodeaffinity.volume_fits_node(pv, node)

    async def _bind(self, claim: Object, pv: Object, by_controller: bool) -> None:
        """Volume side first (claimRef, then phase), then the claim (Kubernetes' bind)."""
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if not storageutil.claim_ref_matches(pv, claim) or not ref.get("uid"):
            claimed = plan.claimed_volume(pv, claim, by_controller)
            pv = await self.client.update(PERSISTENTVOLUMES, claimed)
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv = await self._volume_status(pv, "Bound", "")
        logger.info("persistentvolumeclaim %s: bound to volume %s", meta.ns_name(claim),
                    meta.name_of(pv))  # fmt: skip
        await self._finish_claim(claim, pv, by_controller)

    async def _finish_claim(self, claim: Object, pv: Object, by_controller: bool) -> None:
        annotations = meta.annotations_of(claim)
        spec = claim.get("spec") or {}
        if (
            spec.get("volumeName") != meta.name_of(pv)
            or annotations.get(storageutil.BIND_COMPLETED) != "yes"
        ):
            claim = await self._update_claim(plan.bound_claim(claim, pv, by_controller))
        status = plan.bound_claim_status(claim, pv)
        if status != (claim.get("status") or {}):
            await self._claim_status(claim, status)
        self._reported.pop(meta.uid_of(claim), None)

    async def _sync_volume(self, pv: Object) -> None:
        claims = {key: c for key, c in self.claims.store.items().items()}
        if plan.unbound_by_controller(pv, claims):
            spec = dict(pv.get("spec") or {})
            spec.pop("claimRef", None)
            pv = await self.client.update(PERSISTENTVOLUMES, {**pv, "spec": spec})
        phase, message = plan.volume_phase(pv, claims)
        status = pv.get("status") or {}
        if phase == "Released" and _reclaim(pv) == "Delete" and not _provisioned(pv):
            phase = "Failed"
            message = (f'error getting deleter volume plugin for volume "{meta.name_of(pv)}": '
                       "no deletable volume plugin matched")  # fmt: skip
            self.recorder.record(pv, "Warning", "VolumeFailedDelete", message)
        if phase != status.get("phase") or message != (status.get("message") or ""):
            await self._volume_status(pv, phase, message)

    # --- writes -----------------------------------------------------------------------------

    async def _update_claim(self, claim: Object) -> Object:
        try:
            return await self.client.update(PERSISTENTVOLUMECLAIMS, claim)
        except errors.NotFound:
            return claim

    async def _claim_status(self, claim: Object, status: dict[str, Any]) -> None:
        try:
            await self.client.update_status(PERSISTENTVOLUMECLAIMS, {**claim, "status": status})
        except errors.NotFound:
            pass

    async def _volume_status(self, pv: Object, phase: str, message: str) -> Object:
        status: dict[str, Any] = {**(pv.get("status") or {}), "phase": phase,
                                  "lastPhaseTransitionTime": times.now_rfc3339()}  # fmt: skip
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        logger.info("persistentvolume %s: %s", meta.name_of(pv), phase)
        return await self.client.update_status(PERSISTENTVOLUMES, {**pv, "status": status})

    def _report(self, claim: Object, type_: str, reason: str, message: str) -> None:
        uid = meta.uid_of(claim)
        if self._reported.get(uid) == reason + message:
            return
        self._reported[uid] = reason + message
        self.recorder.record(claim, type_, reason, message)


def _reclaim(pv: Object) -> str:
    return str((pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain")


def _provisioned(pv: Object) -> bool:
    return bool(meta.annotations_of(pv).get(storageutil.PROVISIONED_BY))
