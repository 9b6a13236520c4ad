"""The garbage collector: delete objects whose owners are gone, and carry out the
Foreground and Orphan deletion policies (the `foregroundDeletion` / `orphan` finalizers the
apiserver adds on delete).

It watches the kinds that own or are owned (pods, ReplicaSets, Deployments, Services,
Endpoints, ConfigMaps, Leases, Nodes, Jobs, CronJobs, ReplicationControllers) through the
shared informers, indexed by owner uid.
Queue keys are `<plural>|<namespace>/<name>`.
"""

from __future__ import annotations

import copy
import functools
import logging

from minik8s.api import errors, meta, resources
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.client import cache
from minik8s.client.informer import Informer
from minik8s.controllers import gc_plan, indexes
from minik8s.controllers.base import Controller
from minik8s.controllers.gc_plan import Action, OwnerState

logger = logging.getLogger(__name__)

TRACKED = (
    resources.PODS, resources.REPLICASETS, resources.DEPLOYMENTS, resources.SERVICES,
    resources.ENDPOINTS, resources.ENDPOINTSLICES, resources.CONFIGMAPS, resources.LEASES,
    resources.NODES,
    resources.JOBS, resources.CRONJOBS, resources.REPLICATIONCONTROLLERS,
    resources.DAEMONSETS, resources.STATEFULSETS, resources.CONTROLLERREVISIONS,
    resources.PERSISTENTVOLUMECLAIMS,
)  # fmt: skip
UPDATE_ATTEMPTS = 5


class GarbageCollector(Controller):
    name = "garbagecollector"

    def register(self) -> None:
        self.informers: dict[str, Informer] = {}
        for rt in TRACKED:
            informer = self.ctx.informer(rt)
            self.informers[rt.plural] = informer
            informer.add_event_handler(
                functools.partial(self._added, rt),
                functools.partial(self._updated, rt),
                functools.partial(self._deleted, rt),
            )

    # --- event handlers ---------------------------------------------------------------------

    def _key(self, rt: ResourceType, obj: Object) -> str:
        return f"{rt.plural}|{cache.object_key(obj)}"

    def _added(self, rt: ResourceType, obj: Object) -> None:
        if meta.owner_uids(obj) or gc_plan.pending_gc_finalizer(obj):
            self.queue.add(self._key(rt, obj))

    def _updated(self, rt: ResourceType, old: Object, new: Object) -> None:
        old_refs, new_refs = meta.owner_references(old), meta.owner_references(new)
        if gc_plan.pending_gc_finalizer(new) or old_refs != new_refs:
            self.queue.add(self._key(rt, new))
        if old_refs != new_refs or meta.is_deleting(new):
            self._enqueue_owners(old)

    def _deleted(self, rt: ResourceType, obj: Object) -> None:
        for dependent_rt, dependent in self._dependents(meta.uid_of(obj)):
            self.queue.add(self._key(dependent_rt, dependent))
        self._enqueue_owners(obj)

    def _enqueue_owners(self, obj: Object) -> None:
        """Wake owners waiting in foreground deletion: one of their dependents changed."""
        for uid in meta.owner_uids(obj):
            for rt, owner in self._by_uid(uid):
                if gc_plan.pending_gc_finalizer(owner):
                    self.queue.add(self._key(rt, owner))

    def _by_uid(self, uid: str) -> list[tuple[ResourceType, Object]]:
        found = []
        for rt in TRACKED:
            for obj in self.informers[rt.plural].store.by_index(indexes.UID_INDEX, uid):
                found.append((rt, obj))
        return found

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Object]]:
        found = []
        for rt in TRACKED:
            for obj in self.informers[rt.plural].store.by_index(indexes.OWNER_INDEX, uid):
                found.append((rt, obj))
        return found

    # --- reconcile --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        plural, _, object_key = key.partition("|")
        rt = resources.by_plural(plural)
        if rt is None:
            return
        obj = self.informers[plural].store.get_by_key(object_key)
        if obj is None:
            return
        finalizer = gc_plan.pending_gc_finalizer(obj)
        if finalizer == gc_plan.ORPHAN:
            await self._orphan_dependents(rt, obj)
            return
        if finalizer == gc_plan.FOREGROUND:
            await self._delete_dependents_first(rt, obj)
            return
        if meta.is_deleting(obj) or not meta.owner_uids(obj):
            return
        await self._check_owners(rt, obj)

    async def _check_owners(self, rt: ResourceType, obj: Object) -> None:
        states: dict[str, OwnerState] = {}
        for ref in meta.owner_references(obj):
            states[str(ref.get("uid"))] = await self._owner_state(obj, ref)
        has_dependents = bool(self._dependents(meta.uid_of(obj)))
        decision = gc_plan.decide(states, has_dependents)
        what = f"{rt.kind} {meta.ns_name(obj)}"
        if decision.action is Action.REMOVE_REFERENCES:
            logger.info("gc: %s: removing references to deleted owners %s", what,
                        decision.dangling)  # fmt: skip
            await self._update(rt, obj, lambda o: self._drop_refs(o, decision.dangling))
        elif decision.action in (Action.DELETE_BACKGROUND, Action.DELETE_FOREGROUND):
            policy = "Foreground" if decision.action is Action.DELETE_FOREGROUND else "Background"
            logger.info("gc: %s: all owners gone; deleting (%s)", what, policy)
            await self._delete(rt, obj, policy)

    async def _owner_state(self, dependent: Object, ref: dict) -> OwnerState:
        owner_rt = resources.by_kind(str(ref.get("apiVersion")), str(ref.get("kind")))
        if owner_rt is None:
            return OwnerState.UNKNOWN
        uid = str(ref.get("uid"))
        informer = self.informers.get(owner_rt.plural)
        if informer is not None:
            cached = informer.store.by_index(indexes.UID_INDEX, uid)
            if cached:
                return gc_plan.owner_state(cached[0], ref)
        namespace = meta.namespace_of(dependent) if owner_rt.namespaced else None
        try:  # not cached: maybe not seen yet, so ask the apiserver
            live: Object | None = await self.client.get(owner_rt, str(ref.get("name")), namespace)
        except errors.NotFound:
            live = None
        return gc_plan.owner_state(live, ref)

    async def _orphan_dependents(self, rt: ResourceType, owner: Object) -> None:
        uid = meta.uid_of(owner)
        dependents = self._dependents(uid)
        for dependent_rt, dependent in dependents:
            await self._update(dependent_rt, dependent, lambda o: self._drop_refs(o, [uid]))
        logger.info("gc: %s %s: orphaned %d dependents", rt.kind, meta.ns_name(owner),
                    len(dependents))  # fmt: skip
        await self._update(rt, owner, lambda o: self._drop_finalizer(o, gc_plan.ORPHAN))

    async def _delete_dependents_first(self, rt: ResourceType, owner: Object) -> None:
        uid = meta.uid_of(owner)
        dependents = self._dependents(uid)
        for dependent_rt, dependent in dependents:
            if meta.is_deleting(dependent):
                continue
            has_own = bool(self._dependents(meta.uid_of(dependent)))
            policy = "Foreground" if gc_plan.blocks(dependent, uid) and has_own else "Background"
            await self._delete(dependent_rt, dependent, policy)
        blocking = [d for _, d in dependents if gc_plan.blocks(d, uid)]
        if blocking:
            logger.debug("gc: %s %s: waiting for %d dependents", rt.kind,
                         meta.ns_name(owner), len(blocking))  # fmt: skip
            return
        logger.info("gc: %s %s: dependents gone; finishing foreground deletion", rt.kind,
                    meta.ns_name(owner))  # fmt: skip
        await self._update(rt, owner, lambda o: self._drop_finalizer(o, gc_plan.FOREGROUND))

    # --- writes -----------------------------------------------------------------------------

    @staticmethod
    def _drop_refs(obj: Object, uids: list[str]) -> bool:
        removed = [meta.remove_owner_reference(obj, uid) for uid in uids]
        return any(removed)

    @staticmethod
    def _drop_finalizer(obj: Object, name: str) -> bool:
        finalizers = obj["metadata"].get("finalizers") or []
        if name not in finalizers:
            return False
        obj["metadata"]["finalizers"] = [f for f in finalizers if f != name]
        return True

    async def _update(self, rt: ResourceType, obj: Object, change: object) -> None:
        """Apply `change(obj) -> changed?` and PUT, re-reading on conflicts."""
        current = copy.deepcopy(obj)
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            if meta.uid_of(current) != meta.uid_of(obj):
                return
            if not change(current):  # type: ignore[operator]
                return
            try:
                await self.client.update(rt, current)
                return
            except errors.NotFound:
                return
            except errors.Conflict:
                logger.debug("gc: %s %s: conflict (attempt %d/%d)", rt.kind,
                             meta.ns_name(obj), attempt, UPDATE_ATTEMPTS)  # fmt: skip
            try:
                current = await self.client.get(
                    rt, meta.name_of(obj), meta.namespace_of(obj) or None
                )
            except errors.NotFound:
                return
        raise errors.Conflict(f"gc: {rt.kind} {meta.ns_name(obj)}: too many conflicts")

    async def _delete(self, rt: ResourceType, obj: Object, policy: str) -> None:
        try:
            await self.client.delete(
                rt, meta.name_of(obj), meta.namespace_of(obj) or None,
                propagation_policy=policy, preconditions={"uid": meta.uid_of(obj)},
            )  # fmt: skip
        except (errors.NotFound, errors.Conflict):
            return
