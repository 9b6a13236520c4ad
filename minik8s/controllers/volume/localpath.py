"""The local-path provisioner (k3s ships one as its default storage; here it runs in the
controller-manager as `local-path-provisioner`): makes sure the default StorageClass
`local-path` exists, creates a directory-backed PersistentVolume on the node the scheduler
chose for a claim's first pod, and when a Delete-policy volume is released, removes its data
with a helper pod on that node before deleting the volume. Decisions in `localpath_plan`.

Queue keys are `claim|<namespace>/<name>` and `volume|<name>`.
"""

from __future__ import annotations

import logging

from minik8s.api import errors, meta, podutil, storageutil
from minik8s.api.meta import Object
from minik8s.api.resources import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STORAGECLASSES,
)
from minik8s.client import cache
from minik8s.controllers.base import Controller
from minik8s.controllers.volume import localpath_plan as plan

logger = logging.getLogger(__name__)

CLAIM = "claim|"
VOLUME = "volume|"
HELPER_RETRY = 10.0
"""Seconds before a failed helper pod is tried again."""


class LocalPathProvisioner(Controller):
    name = "local-path-provisioner"

    def register(self) -> None:
        self.claims = self.ctx.informer(PERSISTENTVOLUMECLAIMS)
        self.volumes = self.ctx.informer(PERSISTENTVOLUMES)
        self.classes = self.ctx.informer(STORAGECLASSES)
        self.nodes = self.ctx.informer(NODES)
        self.pods = self.ctx.informer(PODS)
        self.claims.add_event_handler(
            self._claim_changed, lambda old, new: self._claim_changed(new)
        )
        self.volumes.add_event_handler(
            self._volume_changed, lambda old, new: self._volume_changed(new)
        )
        self.pods.add_event_handler(on_update=lambda old, new: self._pod_changed(new))

    def _claim_changed(self, claim: Object) -> None:
        if meta.annotations_of(claim).get(storageutil.STORAGE_PROVISIONER) == plan.PROVISIONER:
            self.queue.add(CLAIM + cache.object_key(claim))

    def _volume_changed(self, pv: Object) -> None:
        if plan.needs_deleting(pv):
            self.queue.add(VOLUME + meta.name_of(pv))

    def _pod_changed(self, pod: Object) -> None:
        volume = meta.labels_of(pod).get(plan.HELPER_LABEL)
        if volume and meta.namespace_of(pod) == self.settings.local_path_namespace:
            self.queue.add(VOLUME + volume)

    async def run(self) -> None:
        await self._ensure_default_class()
        await super().run()

    async def _ensure_default_class(self) -> None:
        """Create `local-path` unless a class of that name exists (never overwritten)."""
        try:
            await self.client.create(STORAGECLASSES, plan.default_class())
            logger.info("created the default StorageClass %s", plan.DEFAULT_CLASS_NAME)
        except errors.AlreadyExists:
            pass
        except errors.ApiError as e:
            logger.warning("cannot create StorageClass %s: %s", plan.DEFAULT_CLASS_NAME, e.message)

    async def reconcile(self, key: str) -> None:
        if key.startswith(CLAIM):
            claim = self.claims.store.get_by_key(key[len(CLAIM) :])
            if claim is not None:
                await self._provision(claim)
        else:
            pv = self.volumes.store.get_by_key(key[len(VOLUME) :])
            if pv is not None and plan.needs_deleting(pv) and not meta.is_deleting(pv):
                await self._delete(pv)

    async def _provision(self, claim: Object) -> None:
        sc = self.classes.store.get_by_key(storageutil.claim_class(claim) or "")
        if not plan.wants_provisioning(claim, sc) or sc is None:
            return
        if self.volumes.store.get_by_key(plan.volume_name(claim)) is not None:
            return
        node_name = meta.annotations_of(claim).get(storageutil.SELECTED_NODE)
        node = self.nodes.store.get_by_key(node_name) if node_name else None
        if node is None:
            message = plan.NO_NODE if not node_name else f'node "{node_name}" not found'
            self.recorder.record(claim, "Warning", "ProvisioningFailed",
                                 f"failed to provision volume with StorageClass "
                                 f'"{meta.name_of(sc)}": {message}')  # fmt: skip
            return
        self.recorder.record(claim, "Normal", "Provisioning",
                             f'External provisioner is provisioning volume for claim '
                             f'"{meta.ns_name(claim)}"')  # fmt: skip
        root = self.settings.local_path_root
        try:
            pv = await self.client.create(PERSISTENTVOLUMES,
                                          plan.new_volume(claim, sc, node, root))  # fmt: skip
        except errors.AlreadyExists:
            return
        logger.info("persistentvolumeclaim %s: provisioned %s on %s", meta.ns_name(claim),
                    meta.name_of(pv), node_name)  # fmt: skip
        self.recorder.record(claim, "Normal", "ProvisioningSucceeded",
                             f"Successfully provisioned volume {meta.name_of(pv)}")  # fmt: skip

    async def _delete(self, pv: Object) -> None:
        """Remove the data with a helper pod on the volume's node, then the volume."""
        node = plan.node_of(pv)
        namespace = self.settings.local_path_namespace
        if self.nodes.store.get_by_key(node) is None:
            self.recorder.record(pv, "Warning", "VolumeFailedDelete",
                                 f'node "{node}" is gone: its data was not removed')  # fmt: skip
            await self._delete_volume(pv)
            return
        helper = self.pods.store.get_by_key(f"{namespace}/{plan.helper_name(pv)}")
        if helper is None:
            manifest = plan.helper_pod(pv, namespace, self.settings.local_path_helper_image)
            try:
                await self.client.create(PODS, manifest)
            except errors.AlreadyExists:
                pass
            return
        phase = podutil.pod_phase(helper)
        if phase == "Succeeded":
            await self._delete_helper(helper)
            await self._delete_volume(pv)
        elif phase == "Failed":
            self.recorder.record(pv, "Warning", "VolumeFailedDelete",
                                 f"helper pod {meta.name_of(helper)} failed to remove the data; "
                                 f"retrying in {HELPER_RETRY:.0f}s")  # fmt: skip
            await self._delete_helper(helper)
            self.queue.add_after(VOLUME + meta.name_of(pv), HELPER_RETRY)

    async def _delete_helper(self, helper: Object) -> None:
        try:
            await self.client.delete(PODS, meta.name_of(helper), meta.namespace_of(helper),
                                     grace_period_seconds=0)  # fmt: skip
        except errors.NotFound:
            pass

    async def _delete_volume(self, pv: Object) -> None:
        try:
            await self.client.delete(PERSISTENTVOLUMES, meta.name_of(pv))
        except errors.NotFound:
            return
        logger.info("persistentvolume %s: data removed, volume deleted", meta.name_of(pv))
