"""The EndpointSlice controller: the endpoints of each Service with a selector as
discovery.k8s.io/v1 EndpointSlices of at most `--max-endpoints-per-slice` endpoints, owned by
the Service (the garbage collector removes them with it). A sync waits until the informer
shows this controller's own writes (`slicesync.SliceTracker`)."""

from __future__ import annotations

import logging

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTSLICES, NODES
from minik8s.controllers import endpointslice_plan as plan
from minik8s.controllers import slicesync
from minik8s.controllers.servicepods import ServicePodsController

logger = logging.getLogger(__name__)

BY_SERVICE = "endpointslice/service"
"""The slices this controller manages, by `<namespace>/<service>`."""
ZONE_LABEL = "topology.kubernetes.io/zone"


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"

    def register(self) -> None:
        self.watch_services_and_pods()
        self.slices = self.ctx.informer(ENDPOINTSLICES)
        if BY_SERVICE not in self.slices.store.index_names():
            self.slices.store.add_indexers({BY_SERVICE: plan.managed_service_key})
        self.slices.add_event_handler(
            self._slice_changed, lambda old, new: self._slice_changed(new), self._slice_gone
        )
        self.tracker = slicesync.SliceTracker()
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
            if self.tracker.should_sync(key, slice_):
                self.queue.add(key)

    def _slice_gone(self, slice_: Object) -> None:
        for key in plan.managed_service_key(slice_):
            self.tracker.gone(key, slice_)
            self.queue.add(key)

    async def reconcile(self, key: str) -> None:
        service = self.services.store.get_by_key(key)
        slices = self.slices.store.by_index(BY_SERVICE, key)
        if not self.tracker.caught_up(key, slices):
            return  # the informer's event for our write queues the Service again
        if service is None or meta.is_deleting(service):
            self.tracker.forget(key)
            return  # its slices go with it: they are owned by the Service
        if not plan.selects_pods(service):
            return  # a Service without a selector keeps the slices someone else writes
        writes = plan.reconcile(
            service, self.candidates(service), slices, self.max_per_slice, self.zones
        )
        await slicesync.write(self.client, self.queue, self.tracker, key, writes)
