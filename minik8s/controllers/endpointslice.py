"""The EndpointSlice controller: the endpoints of each Service with a selector as
discovery.k8s.io/v1 EndpointSlices of at most `--max-endpoints-per-slice` endpoints, owned by
the Service (the garbage collector removes them with it).

The informer may not yet show a slice this controller has just written: a sync that ran on
that stale view would create the slice a second time. As Kubernetes' endpointSliceTracker
does, the controller remembers the resourceVersion of each of its writes (or that it deleted
the slice) and does not sync a Service until its informer has caught up; the event that
catches it up queues the Service again."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTSLICES, NODES
from minik8s.client import cache
from minik8s.controllers import endpointslice_plan as plan
from minik8s.controllers.servicepods import ServicePodsController

logger = logging.getLogger(__name__)

BY_SERVICE = "endpointslice/service"
"""The slices this controller manages, by `<namespace>/<service>`."""
DELETED = -1
ZONE_LABEL = "topology.kubernetes.io/zone"


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"

    def register(self) -> None:
        self.watch_services_and_pods()
        self.slices = self.ctx.informer(ENDPOINTSLICES)
        if BY_SERVICE not in self.slices.store.index_names():
            self.slices.store.add_indexers({BY_SERVICE: plan.managed_service_key})
        self.slices.add_event_handler(
            self._slice_changed, lambda old, new: self._slice_changed(new), self._slice_changed
        )
        self._expected: dict[str, dict[str, int]] = {}
        """Per Service key: the resourceVersion of each slice written (DELETED once deleted)
        that the informer has not shown yet."""
        self.max_per_slice = self.settings.max_endpoints_per_slice
        self.zones: dict[str, str] = {}
        """`topology.kubernetes.io/zone` of each node that has one (an endpoint's zone)."""
        nodes = self.ctx.informer(NODES)
        nodes.add_event_handler(self._node_seen, lambda old, new: self._node_seen(new),
                                self._node_gone)  # fmt: skip

    def _node_seen(self, node: Object) -> None:
        zone = meta.labels_of(node).get(ZONE_LABEL)
        if zone:
            self.zones[meta.name_of(node)] = zone
        else:
            self.zones.pop(meta.name_of(node), None)

    def _node_gone(self, node: Object) -> None:
        self.zones.pop(meta.name_of(node), None)

    def _slice_changed(self, slice_: Object) -> None:
        for key in plan.managed_service_key(slice_):
            self.queue.add(key)

    def _caught_up(self, key: str, slices: list[Object]) -> bool:
        """True once the informer shows every write this controller made for `key`."""
        expected = self._expected.get(key)
        if not expected:
            return True
        seen = {meta.name_of(s): int(meta.resource_version_of(s) or 0) for s in slices}
        for name, version in list(expected.items()):
            if version == DELETED and name not in seen:
                del expected[name]
            elif version != DELETED and seen.get(name, 0) >= version:
                del expected[name]
        if not expected:
            del self._expected[key]
        return not expected

    def _wrote(self, key: str, slice_: Object, deleted: bool = False) -> None:
        version = DELETED if deleted else int(meta.resource_version_of(slice_) or 0)
        self._expected.setdefault(key, {})[meta.name_of(slice_)] = version

    async def reconcile(self, key: str) -> None:
        namespace, _ = cache.split_key(key)
        service = self.services.store.get_by_key(key)
        slices = self.slices.store.by_index(BY_SERVICE, key)
        if not self._caught_up(key, slices):
            return  # the informer's event for our write queues the Service again
        if service is None or meta.is_deleting(service):
            self._expected.pop(key, None)
            return  # its slices go with it: they are owned by the Service
        if not plan.selects_pods(service):
            return  # a Service without a selector keeps the slices someone else writes
        writes = plan.reconcile(
            service, self.candidates(service), slices, self.max_per_slice, self.zones
        )
        try:
            for body in writes.create:
                created = await self.client.create(ENDPOINTSLICES, body, namespace)
                self._wrote(key, created)
            for body in writes.update:
                self._wrote(key, await self.client.update(ENDPOINTSLICES, body))
            for body in writes.delete:
                try:
                    await self.client.delete(ENDPOINTSLICES, meta.name_of(body), namespace)
                except errors.NotFound:
                    pass
                self._wrote(key, body, deleted=True)
        except (errors.Conflict, errors.NotFound):
            self.queue.add(key)  # the informer is behind: the next sync reads a newer view
            return
        except errors.Forbidden as e:  # namespace terminating
            logger.info("endpointslices %s: not written: %s", key, e.message)
            return
        if writes:
            logger.info(
                "endpointslices %s: %d created, %d updated, %d deleted",
                key, len(writes.create), len(writes.update), len(writes.delete),
            )  # fmt: skip
