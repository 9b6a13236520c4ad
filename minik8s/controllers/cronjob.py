"""The CronJob controller: create a CronJob's Jobs on schedule (decisions in `cronjob_plan`).

Each CronJob is requeued for its next scheduled time; a change of any Job it controls wakes it
too (to update `status.active`, `lastSuccessfulTime`, and the history). Jobs get a name per
scheduled time, so a restart never starts the same run twice.
"""

from __future__ import annotations

import logging

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import CRONJOBS, JOBS
from minik8s.client import cache
from minik8s.controllers import cronjob_plan, indexes
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


class CronJobController(Controller):
    name = "cronjob"

    def register(self) -> None:
        self.cronjobs = self.ctx.informer(CRONJOBS)
        self.jobs = self.ctx.informer(JOBS)
        self.cronjobs.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self.enqueue
        )
        self.jobs.add_event_handler(
            self._job_changed, lambda old, new: self._job_changed(new), self._job_changed
        )

    def _job_changed(self, job: Object) -> None:
        ref = meta.controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.queue.add(f"{meta.namespace_of(job)}/{ref.get('name')}")

    async def reconcile(self, key: str) -> None:
        cronjob = self.cronjobs.store.get_by_key(key)
        if cronjob is None:
            return
        jobs = self.jobs.store.by_index(indexes.CONTROLLER_INDEX, meta.uid_of(cronjob))
        plan = cronjob_plan.plan_cronjob(cronjob, jobs, times.utc_now())
        for type_, reason, message in plan.events:
            self.recorder.record(cronjob, type_, reason, message)
        for job, message in plan.delete:
            try:
                await self.client.delete(
                    JOBS, meta.name_of(job), meta.namespace_of(job), propagation_policy="Background"
                )
            except errors.NotFound:
                continue
            self.recorder.record(cronjob, "Normal", "SuccessfulDelete", message)
        status = plan.status
        if plan.create is not None:
            status = await self._create(cronjob, plan.create, status)
        if status != (cronjob.get("status") or {}):
            try:
                await self.client.update_status(CRONJOBS, {**cronjob, "status": status})
            except errors.NotFound:
                return
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _create(self, cronjob: Object, job: Object, status: dict) -> dict:
        name = meta.name_of(job)
        try:
            created = await self.client.create(JOBS, job)
        except errors.AlreadyExists:
            logger.info("cronjob %s: job %s already exists", cache.object_key(cronjob), name)
            return status
        except errors.ApiError as e:
            self.recorder.record(cronjob, "Warning", "FailedCreate", f"Error creating job: {e}")
            raise
        self.recorder.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {name}")
        logger.info("cronjob %s: created job %s", cache.object_key(cronjob), name)
        active = [*(status.get("active") or []), cronjob_plan.job_reference(created)]
        return {**status, "active": active}
