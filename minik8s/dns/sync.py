"""The informers' events → the zone: each Service's records are recomputed when it or one of
its EndpointSlices changes, so the answer path only ever looks up what is already compiled."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from minik8s.api.meta import ns_name
from minik8s.client.informer import Informer
from minik8s.dns import records
from minik8s.dns.endpointnames import EndpointNames
from minik8s.dns.zone import ZONE_OWNER, Zone

logger = logging.getLogger(__name__)

BY_SERVICE = "dns/service"
"""The slices' index by their Service (`ns/name`)."""


def slice_service(compact: dict[str, Any]) -> list[str]:
    """Index function of the (compacted) slices: `[ns/name]` of its Service, or []."""
    service = compact.get("service")
    return [service] if service else []


class ZoneSync:
    """Keeps `zone` equal to the records of the Services and EndpointSlices the informers hold
    (the slices' informer indexed by `BY_SERVICE`)."""

    def __init__(self, zone: Zone, services: Informer, slices: Informer) -> None:
        self.zone = zone
        self.services = services
        self.slices = slices
        self.endpoint_names = EndpointNames(zone.domain, services.store.get_by_key, self.endpoints)
        self.changes = 0
        """Owner changes applied so far."""
        self.last_change = 0.0
        """time.time() of the last change (for logs and tests)."""
        self.on_change: list[Callable[[str], None]] = []
        zone.set_owner(ZONE_OWNER, records.zone_records(zone.domain))
        services.add_event_handler(self._service, self._service_update, self._service_deleted)
        slices.add_event_handler(self._slice, self._slice_update, self._slice)

    @property
    def ready(self) -> bool:
        return self.services.has_synced and self.slices.has_synced

    def endpoints(self, key: str) -> dict[str, Any] | None:
        """Service `key`'s endpoints, its slices merged (None: it has none)."""
        found = self.slices.store.by_index(BY_SERVICE, key)
        if not found:
            return None
        return {"dns": records.merge([s["dns"] for s in found])}

    def _service(self, service: dict[str, Any]) -> None:
        self.refresh(ns_name(service))

    def _service_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.refresh(ns_name(new))

    def _service_deleted(self, service: dict[str, Any]) -> None:
        key = ns_name(service)
        self.endpoint_names.update(key, None, None)
        if self.zone.remove_owner(key):
            self._changed(key)

    def _slice(self, slice_: dict[str, Any]) -> None:
        for key in slice_service(slice_):
            self.refresh(key)

    def _slice_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key in {*slice_service(old), *slice_service(new)}:
            self.refresh(key)

    def refresh(self, key: str) -> None:
        """Recompute the records of Service `key` from what the informers hold now."""
        service = self.services.store.get_by_key(key)
        endpoints = self.endpoints(key)
        self.endpoint_names.update(key, service, endpoints)
        if service is None:
            changed = self.zone.remove_owner(key)
        else:
            found = records.service_records(service, endpoints, self.zone.domain)
            changed = self.zone.set_owner(key, found)
        if changed:
            self._changed(key)

    def _changed(self, key: str) -> None:
        self.changes += 1
        self.last_change = time.time()
        for callback in self.on_change:
            callback(key)
