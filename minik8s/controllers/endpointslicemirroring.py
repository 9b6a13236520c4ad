"""The EndpointSlice mirroring controller (Kubernetes' endpointslicemirroring): the Endpoints of
each Service without a selector mirrored as discovery.k8s.io/v1 EndpointSlices, so readers of
slices (kube-proxy, the DNS) see hand-written Endpoints too.

Keyed by Endpoints (`<namespace>/<name>`, the Service's name). A sync deletes the mirrored
slices once the Endpoints or its Service is gone, the Service has a selector, or the Endpoints
is labelled skip-mirror; they are owned by the Endpoints, so the garbage collector would
remove them too. A sync waits until the informer shows this controller's own writes
(`slicesync.SliceTracker`)."""

from __future__ import annotations

import logging

from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from minik8s.controllers import endpointslicemirroring_plan as plan
from minik8s.controllers import slicesync
from minik8s.controllers.base import Controller
from minik8s.controllers.endpointslice_plan import Writes

logger = logging.getLogger(__name__)

BY_ENDPOINTS = "endpointslicemirroring/endpoints"
"""The slices this controller mirrored, by `<namespace>/<endpoints>`."""
INVALID_IP = "InvalidIPAddress"
TOO_MANY = "TooManyAddressesToMirror"


class EndpointSliceMirroringController(Controller):
    name = "endpointslicemirroring"

    def register(self) -> None:
        self.endpoints = self.ctx.informer(ENDPOINTS)
        self.services = self.ctx.informer(SERVICES)
        self.slices = self.ctx.informer(ENDPOINTSLICES)
        if BY_ENDPOINTS not in self.slices.store.index_names():
            self.slices.store.add_indexers({BY_ENDPOINTS: plan.mirrored_key})
        self.endpoints.add_event_handler(
            self._endpoints_seen, self._endpoints_updated, self._endpoints_seen
        )
        self.services.add_event_handler(
            self._service_seen, self._service_updated, self._service_seen
        )
        self.slices.add_event_handler(self._slice_seen, self._slice_updated, self._slice_gone)
        self.tracker = slicesync.SliceTracker()
        self.max_per_subset = self.settings.mirroring_max_endpoints_per_subset

    def _endpoints_seen(self, endpoints: Object) -> None:
        if plan.should_mirror(endpoints):
            self.enqueue(endpoints)

    def _endpoints_updated(self, old: Object, new: Object) -> None:
        if plan.should_mirror(old) or plan.should_mirror(new):
            self.enqueue(new)  # skip-mirror added: its slices go

    def _service_seen(self, service: Object) -> None:
        if not plan.has_selector(service):
            self.enqueue(service)

    def _service_updated(self, old: Object, new: Object) -> None:
        if plan.has_selector(old) != plan.has_selector(new):
            self.enqueue(new)

    def _slice_seen(self, slice_: Object) -> None:
        for key in plan.mirrored_key(slice_):
            if self.tracker.should_sync(key, slice_):
                self.queue.add(key)

    def _slice_updated(self, old: Object, new: Object) -> None:
        self._slice_seen(new)
        if plan.mirrored_key(old) != plan.mirrored_key(new):
            for key in plan.mirrored_key(old):  # relabelled away from this controller
                self.queue.add(key)

    def _slice_gone(self, slice_: Object) -> None:
        for key in plan.mirrored_key(slice_):
            self.tracker.gone(key, slice_)
            self.queue.add(key)

    async def reconcile(self, key: str) -> None:
        mirrored = self.slices.store.by_index(BY_ENDPOINTS, key)
        if not self.tracker.caught_up(key, mirrored):
            return  # the informer's event for our write queues the Endpoints again
        endpoints = self.endpoints.store.get_by_key(key)
        service = self.services.store.get_by_key(key)
        if (
            endpoints is None
            or not plan.should_mirror(endpoints)
            or service is None
            or plan.has_selector(service)
        ):
            await slicesync.write(
                self.client, self.queue, self.tracker, key, Writes(delete=mirrored)
            )
            return
        planned = plan.reconcile(endpoints, mirrored, self.max_per_subset)
        if planned.invalid:
            self.recorder.record(
                endpoints, "Warning", INVALID_IP,
                f"Skipped {planned.invalid} invalid IP addresses when mirroring to EndpointSlices",
            )  # fmt: skip
        if planned.skipped > planned.invalid:
            logger.warning(
                "endpoints %s: %d addresses over --mirroring-max-endpoints-per-subset skipped",
                key, planned.skipped - planned.invalid,
            )  # fmt: skip
            self.recorder.record(
                endpoints, "Warning", TOO_MANY,
                f"A max of {self.max_per_subset} addresses can be mirrored to EndpointSlices "
                f"per Endpoints subset. {planned.skipped} addresses were skipped",
            )  # fmt: skip
        await slicesync.write(self.client, self.queue, self.tracker, key, planned.writes)
