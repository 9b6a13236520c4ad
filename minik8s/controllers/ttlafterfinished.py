"""The TTL-after-finished controller: delete a finished Job `ttlSecondsAfterFinished` seconds
after it finished (Foreground, so its pods go first), as Kubernetes' ttlafterfinished."""

from __future__ import annotations

import logging
from datetime import datetime

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import JOBS
from minik8s.controllers import job_pods
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


def time_left(job: Object, now: datetime) -> float | None:
    """Seconds until the Job expires (<= 0: now); None when it has no TTL or is not finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or meta.is_deleting(job):
        return None
    finished = job_pods.finished_time(job)
    if finished is None:
        return None
    return float(ttl) - (now - finished).total_seconds()


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"

    def register(self) -> None:
        self.jobs = self.ctx.informer(JOBS)
        self.jobs.add_event_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, job: Object) -> None:
        if time_left(job, times.utc_now()) is not None:
            self.enqueue(job)

    async def reconcile(self, key: str) -> None:
        job = self.jobs.store.get_by_key(key)
        if job is None:
            return
        left = time_left(job, times.utc_now())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:
            fresh = await self.client.get(JOBS, meta.name_of(job), meta.namespace_of(job))
        except errors.NotFound:
            return
        left = time_left(fresh, times.utc_now())
        if left is None or left > 0:  # changed meanwhile (TTL raised, job restarted)
            if left is not None:
                self.queue.add_after(key, left)
            return
        logger.info(
            "job %s: finished %ss ago, deleting (ttlSecondsAfterFinished)",
            key,
            (fresh.get("spec") or {}).get("ttlSecondsAfterFinished"),
        )
        try:
            await self.client.delete(
                JOBS,
                meta.name_of(fresh),
                meta.namespace_of(fresh),
                propagation_policy="Foreground",
                preconditions={
                    "uid": meta.uid_of(fresh),
                    "resourceVersion": meta.resource_version_of(fresh),
                },
            )
        except (errors.NotFound, errors.Conflict):
            self.queue.add_after(key, 1.0)
