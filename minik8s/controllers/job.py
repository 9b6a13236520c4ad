"""The Job controller: run a Job's pods to completion (decisions in `job_plan`).

Pods are created with the `batch.kubernetes.io/job-tracking` finalizer and counted through
`status.uncountedTerminatedPods` (see `job_plan`): each status write is conditional on the
Job's resourceVersion, so a controller-manager killed at any point, or a sync from a stale
cache, never counts a completion twice nor loses one. Expectations keep a sync from acting on
a cache that has not seen its own creates, deletes and finalizer removals yet; pod events are
batched per Job (`SYNC_BATCH_PERIOD`), so a burst of completions is one sync.

Pods left with the finalizer by a Job that is gone or finished are released by the same
queue (keys `pod|<namespace>/<name>`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from minik8s.api import errors, meta, times
from minik8s.api.meta import Object
from minik8s.api.resources import JOBS, PODS
from minik8s.client import cache
from minik8s.controllers import indexes, job_plan, job_pods, replicaset_plan
from minik8s.controllers.base import Controller
from minik8s.controllers.expectations import Expectations

logger = logging.getLogger(__name__)

SYNC_BATCH_PERIOD = 0.2
"""Seconds a pod event waits before its Job syncs, so that many pod events make one sync."""
ORPHAN_PREFIX = "pod|"


class JobController(Controller):
    name = "job"

    def register(self) -> None:
        self.expectations = Expectations()
        self.removals: dict[str, set[str]] = {}
        """Per Job key: uids whose finalizer removal was sent and not seen by the informer."""
        self.backoffs: dict[str, job_pods.Backoff] = {}
        self.written: dict[str, int] = {}
        """Per Job key: the resourceVersion of our last status write. A cached Job older than
        that is stale: counting from it could miss pods already moved out of uncounted."""
        self.jobs = self.ctx.informer(JOBS)
        self.pods = self.ctx.informer(PODS)
        self.jobs.add_event_handler(self._job_added, self._job_updated, self._job_deleted)
        self.pods.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # --- event handlers (only enqueue and count) -------------------------------------------

    def _job_added(self, job: Object) -> None:
        self.enqueue(job)

    def _job_updated(self, old: Object, new: Object) -> None:
        if meta.generation_of(old) != meta.generation_of(new):
            self.enqueue(new)
        else:
            self.queue.add_after(cache.object_key(new), SYNC_BATCH_PERIOD)
        if job_pods.is_finished(new) and not job_pods.is_finished(old):
            self._release_pods_of(new)

    def _job_deleted(self, job: Object) -> None:
        self.enqueue(job)
        self._release_pods_of(job)

    def _release_pods_of(self, job: Object) -> None:
        for pod in self.pods.store.by_index(indexes.CONTROLLER_INDEX, meta.uid_of(job)):
            if job_pods.has_finalizer(pod):
                self.queue.add(ORPHAN_PREFIX + cache.object_key(pod))

    def _job_key(self, pod: Object) -> str | None:
        """The key of the Job in the cache that controls `pod`, if any."""
        ref = meta.controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        key = f"{meta.namespace_of(pod)}/{ref.get('name')}"
        job = self.jobs.store.get_by_key(key)
        if job is None or meta.uid_of(job) != ref.get("uid"):
            return None
        return key

    def _pod_added(self, pod: Object) -> None:
        key = self._job_key(pod)
        if key is None:
            self._maybe_orphan(pod)
            return
        if meta.is_deleting(pod):
            self.expectations.deletion_observed(key, meta.uid_of(pod))
        else:
            self.expectations.creation_observed(key)
        self._observe_finalizer(key, pod)
        self.queue.add_after(key, SYNC_BATCH_PERIOD)

    def _pod_updated(self, old: Object, new: Object) -> None:
        key = self._job_key(new)
        if key is None:
            self._maybe_orphan(new)
            return
        if meta.is_deleting(new) and not meta.is_deleting(old):
            self.expectations.deletion_observed(key, meta.uid_of(new))
        self._observe_finalizer(key, new)
        self.queue.add_after(key, SYNC_BATCH_PERIOD)

    def _pod_deleted(self, pod: Object) -> None:
        key = self._job_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, meta.uid_of(pod))
        self.removals.get(key, set()).discard(meta.uid_of(pod))
        self.queue.add_after(key, SYNC_BATCH_PERIOD)

    def _observe_finalizer(self, key: str, pod: Object) -> None:
        if not job_pods.has_finalizer(pod):
            self.removals.get(key, set()).discard(meta.uid_of(pod))

    def _maybe_orphan(self, pod: Object) -> None:
        if job_pods.has_finalizer(pod):
            ref = meta.controller_ref(pod)
            if ref is None or ref.get("kind") == "Job":
                self.queue.add(ORPHAN_PREFIX + cache.object_key(pod))

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            await self._release_orphan(key.removeprefix(ORPHAN_PREFIX))
            return
        job = self.jobs.store.get_by_key(key)
        if job is None:
            self.expectations.forget(key)
            self.removals.pop(key, None)
            self.backoffs.pop(key, None)
            self.written.pop(key, None)
            return
        if _revision(job) < self.written.get(key, 0):
            self.queue.add_after(key, SYNC_BATCH_PERIOD)  # the informer has not caught up
            return
        if job_pods.is_finished(job):
            self.backoffs.pop(key, None)
            return
        satisfied = self.expectations.satisfied(key)
        pods = self.pods.store.by_index(indexes.CONTROLLER_INDEX, meta.uid_of(job))
        now = times.utc_now()
        plan = job_plan.plan_sync(
            job, pods, now,
            expectations_satisfied=satisfied,
            expected_removals=frozenset(self.removals.get(key, ())),
            backoff=self.backoffs.get(key),
        )  # fmt: skip
        self.backoffs[key] = plan.backoff
        for type_, reason, message in plan.events:
            self.recorder.record(job, type_, reason, message)
        failure = await self._delete_pods(key, job, plan.delete)
        failure = failure or await self._create_pods(key, job, plan.create)
        job = await self._write_status(job, plan.status)
        removed = await self._remove_finalizers(key, plan.remove_finalizers)
        with_finalizer = (
            {meta.uid_of(p) for p in pods if job_pods.has_finalizer(p)}
            - self.removals.get(key, set())
            - removed
        )
        status = job_plan.count_removed(job.get("status") or {}, with_finalizer)
        uncounted = status.get("uncountedTerminatedPods") or {}
        final = plan.final_condition
        if final is not None and plan.can_finish and not failure and not any(uncounted.values()):
            status = job_plan.finish(status, final, now)
            if final["type"] == job_pods.COMPLETE:
                self.recorder.record(job, "Normal", "Completed", "Job completed")
            else:
                self.recorder.record(
                    job, "Warning", final.get("reason", ""), final.get("message", "")
                )
            logger.info("job %s: %s (%s)", key, final["type"], final.get("reason", ""))
        job = await self._write_status(job, status)
        if failure:
            raise failure
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after + 0.05)

    async def _write_status(self, job: Object, status: dict[str, Any]) -> Object:
        """PUT the status, conditional on the Job's resourceVersion (a Conflict propagates:
        the sync starts over from a fresh cache rather than count from stale data)."""
        if status == (job.get("status") or {}):
            return job
        try:
            written = await self.client.update_status(JOBS, {**job, "status": status})
        except errors.NotFound:
            return job
        self.written[cache.object_key(written)] = _revision(written)
        return written

    async def _create_pods(
        self, key: str, job: Object, manifests: list[Object]
    ) -> Exception | None:
        if not manifests:
            return None
        self.expectations.expect_creations(key, len(manifests))
        logger.info("job %s: creating %d pods", key, len(manifests))
        sent = 0
        for size in replicaset_plan.slow_start_batches(len(manifests)):
            batch = manifests[sent : sent + size]
            results = await asyncio.gather(
                *(self.client.create(PODS, m) for m in batch), return_exceptions=True
            )
            sent += size
            failures = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if isinstance(result, BaseException):
                    self.recorder.record(
                        job, "Warning", "FailedCreate", f"Error creating: {result}"
                    )
                else:
                    self.recorder.record(job, "Normal", "SuccessfulCreate",
                                         f"Created pod: {meta.name_of(result)}")  # fmt: skip
            if failures:
                self.expectations.creations_skipped(key, len(failures) + len(manifests) - sent)
                error = failures[0]
                if not isinstance(error, Exception):
                    raise error
                if isinstance(error, errors.Forbidden) and "being terminated" in str(error):
                    return None
                return error
        return None

    async def _delete_pods(self, key: str, job: Object, pods: list[Object]) -> Exception | None:
        if not pods:
            return None
        self.expectations.expect_deletions(key, [meta.uid_of(p) for p in pods])

        async def delete(pod: Object) -> None:
            try:
                await self.client.delete(PODS, meta.name_of(pod), meta.namespace_of(pod),
                                         preconditions={"uid": meta.uid_of(pod)})  # fmt: skip
            except (errors.NotFound, errors.Conflict):
                self.expectations.deletion_observed(key, meta.uid_of(pod))
                return
            except errors.ApiError:
                self.expectations.deletion_observed(key, meta.uid_of(pod))
                raise
            self.recorder.record(job, "Normal", "SuccessfulDelete",
                                 f"Deleted pod: {meta.name_of(pod)}")  # fmt: skip

        results = await asyncio.gather(*(delete(p) for p in pods), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                return result
        return None

    async def _remove_finalizers(self, key: str, pods: list[Object]) -> set[str]:
        """Remove the tracking finalizer; the uids now without it (or gone)."""
        if not pods:
            return set()
        expected = self.removals.setdefault(key, set())
        done: set[str] = set()

        async def remove(pod: Object) -> None:
            uid = meta.uid_of(pod)
            expected.add(uid)
            try:
                await self._strip_finalizer(pod)
            except errors.NotFound:
                pass
            except errors.ApiError as e:
                expected.discard(uid)
                logger.warning("job %s: removing the finalizer of %s: %s", key,
                               meta.name_of(pod), e)  # fmt: skip
                return
            done.add(uid)

        await asyncio.gather(*(remove(p) for p in pods))
        return done

    async def _strip_finalizer(self, pod: Object) -> None:
        """A JSON patch that tests the finalizer is where the cached pod has it, then removes it
        (no resourceVersion precondition: the kubelet's status writes do not get in the way)."""
        finalizers = meta.finalizers_of(pod)
        if job_pods.TRACKING_FINALIZER not in finalizers:
            return
        position = finalizers.index(job_pods.TRACKING_FINALIZER)
        ops = [
            {"op": "test", "path": "/metadata/uid", "value": meta.uid_of(pod)},
            {"op": "test", "path": f"/metadata/finalizers/{position}",
             "value": job_pods.TRACKING_FINALIZER},
            {"op": "remove", "path": f"/metadata/finalizers/{position}"},
        ]  # fmt: skip
        try:
            await self.client.patch(
                PODS, meta.name_of(pod), ops, namespace=meta.namespace_of(pod), patch_type="json"
            )
        except errors.Invalid:
            fresh = await self.client.get(PODS, meta.name_of(pod), meta.namespace_of(pod))
            if meta.uid_of(fresh) != meta.uid_of(pod):
                raise errors.NotFound(f"pod {meta.ns_name(pod)} was replaced") from None
            if job_pods.TRACKING_FINALIZER in meta.finalizers_of(fresh):
                await self._strip_finalizer(fresh)

    async def _release_orphan(self, pod_key: str) -> None:
        """Remove the tracking finalizer from a pod no unfinished Job of ours controls."""
        pod = self.pods.store.get_by_key(pod_key)
        if pod is None or not job_pods.has_finalizer(pod):
            return
        ref = meta.controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != JOBS.api_version:
                return
            job = self.jobs.store.get_by_key(f"{meta.namespace_of(pod)}/{ref.get('name')}")
            if (
                job is not None
                and meta.uid_of(job) == ref.get("uid")
                and not job_pods.is_finished(job)
            ):
                return  # its Job counts it
        try:
            await self._strip_finalizer(pod)
        except errors.NotFound:
            return


def _revision(obj: Object) -> int:
    try:
        return int(meta.resource_version_of(obj))
    except ValueError:
        return 0
