"""Writes a pod's status through `pods/{name}/status`, only when it differs from what the
apiserver has (or what this kubelet wrote last)."""

from __future__ import annotations

import copy
import logging

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.resources import PODS
from minik8s.client.api import ApiClient

logger = logging.getLogger(__name__)


class StatusManager:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._written: dict[str, Object] = {}
        self.writes = 0

    async def set(self, pod: Object, status: Object) -> bool:
        """Write `status` if it changed; True when it was written."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if status == self._written.get(uid) or status == pod.get("status"):
            return False
        body = copy.copy(pod)
        body["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
        body["status"] = status
        old_phase = (pod.get("status") or {}).get("phase")
        try:
            await self.client.update_status(PODS, body)
        except errors.NotFound:
            logger.info(
                "%s/%s: gone before its status was written", meta.get("namespace"), meta.get("name")
            )
            return False
        self._written[uid] = status
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

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
