"""The Endpoints controller: one Endpoints object per Service with a selector, listing its
pods' IPs (ready ones in `addresses`, the others in `notReadyAddresses`) and target ports."""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.resources import ENDPOINTS
from minik8s.client import cache
from minik8s.controllers import endpoints_plan as plan
from minik8s.controllers.servicepods import ServicePodsController

logger = logging.getLogger(__name__)


class EndpointsController(ServicePodsController):
    name = "endpoints"

    def register(self) -> None:
        self.watch_services_and_pods()
        self.endpoints = self.ctx.informer(ENDPOINTS)
        self.endpoints.add_event_handler(on_delete=self.enqueue)

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
        subsets = plan.desired_subsets(service, self.candidates(service))
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
