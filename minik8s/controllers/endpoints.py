"""The Endpoints controller: one Endpoints object per Service with a selector, listing its
pods' IPs (ready ones in `addresses`, the others in `notReadyAddresses`) and target ports."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTS, PODS, SERVICES
from minik8s.client import cache
from minik8s.controllers import endpoints_plan as plan
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)

POD_LABELS = "endpoints/pod-labels"
"""Pods by `<namespace>/<label>=<value>` (see `endpoints_plan.index_pod_labels`)."""
SERVICE_SELECTOR = "endpoints/service-selector"
"""Services by each `<namespace>/<key>=<value>` of their selector."""


class EndpointsController(Controller):
    name = "endpoints"

    def register(self) -> None:
        self.services = self.ctx.informer(SERVICES)
        self.pods = self.ctx.informer(PODS)
        self.endpoints = self.ctx.informer(ENDPOINTS)
        self.services.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self.enqueue
        )
        self.pods.add_event_handler(
            self._pod_changed, lambda old, new: self._pod_updated(old, new), self._pod_changed
        )
        self.endpoints.add_event_handler(on_delete=self.enqueue)
        for store, name, func in (
            (self.pods.store, POD_LABELS, plan.index_pod_labels),
            (self.services.store, SERVICE_SELECTOR, plan.index_service_selector),
        ):
            if name not in store.index_names():  # informers outlive a lost leadership
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

    def _candidates(self, service: Object) -> list[Object]:
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

    async def reconcile(self, key: str) -> None:
        namespace, name = cache.split_key(key)
        service = self.services.store.get_by_key(key)
        if service is None:
            existing = self.endpoints.store.get_by_key(key)
            if existing is not None:
                try:
                    await self.client.delete(ENDPOINTS, name, namespace)
                    logger.info("endpoints %s: deleted with its service", key)
                except errors.NotFound:
                    pass
            return
        if not plan.selects_pods(service) or meta.is_deleting(service):
            return
        subsets = plan.desired_subsets(service, self._candidates(service))
        labels = plan.desired_labels(service)
        existing = self.endpoints.store.get_by_key(key)
        if existing is None:
            body = {"metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "subsets": subsets}  # fmt: skip
            try:
                await self.client.create(ENDPOINTS, body, namespace)
            except errors.AlreadyExists:
                existing = await self.client.get(ENDPOINTS, name, namespace)
            except errors.Forbidden as e:  # namespace terminating
                logger.info("endpoints %s: not created: %s", key, e.message)
                return
            else:
                logger.info("endpoints %s: created with %s", key, _summary(subsets))
                return
        if not plan.needs_update(existing, subsets, labels):
            return
        updated = {**existing, "subsets": subsets,
                   "metadata": {**existing["metadata"], "labels": labels}}  # fmt: skip
        try:
            await self.client.update(ENDPOINTS, updated)
        except errors.NotFound:
            self.queue.add(key)
            return
        logger.info("endpoints %s: updated to %s", key, _summary(subsets))


def _summary(subsets: list[dict]) -> str:
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    return f"{ready} ready, {not_ready} not ready"
