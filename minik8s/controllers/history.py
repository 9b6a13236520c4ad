"""The ControllerRevision history a DaemonSet or StatefulSet keeps (the I/O half of
`history_plan`): find or create the revision of the current template, renumber it after a
rollback, resolve hash collisions, prune beyond `revisionHistoryLimit`."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import CONTROLLERREVISIONS, ResourceType
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.controllers import history_plan as plan
from minik8s.controllers import indexes

logger = logging.getLogger(__name__)


class CollisionBumped(Exception):
    """Another revision holds this name: `status.collisionCount` was bumped, sync again."""


class History:
    def __init__(
        self, client: ApiClient, revisions: Informer, owner_rt: ResourceType, hash_label: str
    ) -> None:
        self.client = client
        self.revisions = revisions
        self.owner_rt = owner_rt
        self.hash_label = hash_label

    def owned(self, owner: Object) -> list[Object]:
        """The revisions `owner` controls (by controller reference)."""
        return list(self.revisions.store.by_index(indexes.CONTROLLER_INDEX, meta.uid_of(owner)))

    async def construct(self, owner: Object) -> tuple[Object, list[Object]]:
        """(the current revision, the older ones); creates or renumbers the current one."""
        current, old = plan.split(owner, self.owned(owner))
        next_number = plan.max_revision(old) + 1
        if not current:
            return await self._create(owner, next_number), old
        keep, duplicates = plan.keep_current(current)
        for duplicate in duplicates:
            await self._delete(duplicate)
        if plan.number(keep) < next_number:
            keep = await self.client.update(CONTROLLERREVISIONS, {**keep, "revision": next_number})
            logger.info("%s %s: revision %s is current again as %d", self.owner_rt.singular,
                        meta.ns_name(owner), meta.name_of(keep), next_number)  # fmt: skip
        return keep, old

    async def _create(self, owner: Object, number: int) -> Object:
        collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
        manifest = plan.new_revision(self.owner_rt, owner, number, collisions, self.hash_label)
        try:
            return await self.client.create(CONTROLLERREVISIONS, manifest)
        except errors.AlreadyExists:
            existing = await self.client.get(
                CONTROLLERREVISIONS, meta.name_of(manifest), meta.namespace_of(owner)
            )
            if plan.matches(owner, existing) and meta.is_controlled_by(existing, owner):
                return existing
        status = dict(owner.get("status") or {})
        status["collisionCount"] = collisions + 1
        await self.client.update_status(self.owner_rt, {**owner, "status": status})
        raise CollisionBumped(f"{meta.ns_name(owner)}: revision name collision")

    async def prune(self, owner: Object, old: list[Object], live: set[str]) -> None:
        limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
        for revision in plan.to_prune(old, 10 if limit is None else int(limit), live):
            await self._delete(revision)

    async def _delete(self, revision: Object) -> None:
        try:
            await self.client.delete(
                CONTROLLERREVISIONS, meta.name_of(revision), meta.namespace_of(revision)
            )
        except errors.NotFound:
            pass
