"""Writes a pod's status through `pods/{name}/status`, only when it differs from what the
apiserver has (or what this kubelet wrote last), and remembers the status its last write
stored, for syncs that start from an informer copy older than that write (Kubernetes'
kubelet generates a status from its status manager's copy too)."""

from __future__ import annotations

import copy
import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import PODS
from minik8s.client.api import ApiClient

logger = logging.getLogger(__name__)


class StatusManager:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._written: dict[str, Object] = {}
        self._stored: dict[str, tuple[int, Object]] = {}
        self.writes = 0

    def latest(self, pod: Object) -> Object:
        """`pod`, with the status our last write stored when `pod` is an older copy (its
        resourceVersion before that write's): a status computed from it then keeps what was
        written (startTime, podIP, conditions' transition times) instead of writing again."""
        stored = self._stored.get(pod["metadata"]["uid"])
        if stored is None or _revision(pod) >= stored[0]:
            return pod
        return {**pod, "status": stored[1]}

    async def set(self, pod: Object, status: Object) -> bool:
        """Write `status` if it differs from the apiserver's (`pod`, the informer's copy); True
        when it was written. What this kubelet wrote last counts as the apiserver's while `pod`
        is not newer than that write (an informer lagging behind it); once it is newer and
        its status differs — the node lifecycle controller's `Ready=False` — it is written
        again, as Kubernetes' status manager reconciles a pod whose status is not the one it
        holds."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if status == pod.get("status"):
            return False
        stored = self._stored.get(uid)
        if status == self._written.get(uid) and (stored is None or _revision(pod) <= stored[0]):
            return False
        body = copy.copy(pod)
        body["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
        body["status"] = status
        old_phase = (pod.get("status") or {}).get("phase")
        try:
            written = await self.client.update_status(PODS, body)
        except errors.NotFound:
            logger.info(
                "%s/%s: gone before its status was written", meta.get("namespace"), meta.get("name")
            )
            return False
        self._written[uid] = status
        self._stored[uid] = (_revision(written), written.get("status") or status)
        self.writes += 1
        if old_phase != status.get("phase"):
            logger.info(
                "%s/%s: phase %s -> %s",
                meta.get("namespace"),
                meta.get("name"),
                old_phase,
                status.get("phase"),
            )
        return True

    def needs_reconcile(self, pod: Object) -> bool:
        """`pod` (an informer's update) is newer than this kubelet's last write and carries a
        status other than the one that write stored: someone else changed it (the node
        lifecycle controller's `Ready=False`), so the pod is synced and its status written back
        now. Kubernetes' status manager checks the same (`needsReconcile`) every 10 s; here
        the informer's update is the trigger, so no pod waits for its next resync."""
        stored = self._stored.get(pod["metadata"]["uid"])
        return stored is not None and _revision(pod) > stored[0] and pod.get("status") != stored[1]

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._stored.pop(uid, None)


def _revision(obj: Object) -> int:
    try:
        return int(meta.resource_version_of(obj))
    except ValueError:
        return 0
