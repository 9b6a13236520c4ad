"""What the Endpoints and EndpointSlice controllers share: a Service's key is queued when a
pod it selects changes, and a sync reads the Service's candidate pods from an index."""

from __future__ import annotations

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.api.resources import PODS, SERVICES
from minik8s.controllers import endpoints_plan as plan
from minik8s.controllers.base import Controller

POD_LABELS = "endpoints/pod-labels"
"""Pods by `<namespace>/<label>=<value>` (see `endpoints_plan.index_pod_labels`)."""
SERVICE_SELECTOR = "endpoints/service-selector"
"""Services by each `<namespace>/<key>=<value>` of their selector."""


class ServicePodsController(Controller):
    """A controller keyed by Service, fed by Service and pod events."""

    def watch_services_and_pods(self) -> None:
        self.services = self.ctx.informer(SERVICES)
        self.pods = self.ctx.informer(PODS)
        self.services.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self.enqueue
        )
        self.pods.add_event_handler(
            self._pod_changed, lambda old, new: self._pod_updated(old, new), self._pod_changed
        )
        for store, name, func in (
            (self.pods.store, POD_LABELS, plan.index_pod_labels),
            (self.services.store, SERVICE_SELECTOR, plan.index_service_selector),
        ):
            if name not in store.index_names():  # shared informers; they outlive a leadership
                store.add_indexers({name: func})

    def _pod_changed(self, pod: Object) -> None:
        """Enqueue the Services that select `pod`: only those whose selector shares a pair
        with its labels are candidates (an index lookup per label, not a scan of every
        Service of the namespace)."""
        seen: set[str] = set()
        for pair in plan.index_pod_labels(pod):
            for key in self.services.store.index_keys(SERVICE_SELECTOR, pair):
                if key in seen:
                    continue
                seen.add(key)
                service = self.services.store.get_by_key(key)
                if service is not None and plan.service_matches(service, pod):
                    self.enqueue(service)

    def candidates(self, service: Object) -> list[Object]:
        """The pods that may match the Service's selector: its smallest label bucket."""
        pairs = plan.index_service_selector(service)
        smallest = min(
            (self.pods.store.index_keys(POD_LABELS, pair) for pair in pairs), key=len, default=[]
        )
        return [pod for key in smallest if (pod := self.pods.store.get_by_key(key)) is not None]

    def _pod_updated(self, old: Object, new: Object) -> None:
        self._pod_changed(new)
        if meta.labels_of(old) != meta.labels_of(new):
            self._pod_changed(old)
