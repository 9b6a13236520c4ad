"""The informers' events → the zone: each Service's records are recomputed when it or its
Endpoints change, so the answer path only ever looks up what is already compiled."""

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


class ZoneSync:
    """Keeps `zone` equal to the records of the Services and Endpoints the informers hold."""

    def __init__(self, zone: Zone, services: Informer, endpoints: Informer) -> None:
        self.zone = zone
        self.services = services
        self.endpoints = endpoints
        self.endpoint_names = EndpointNames(
            zone.domain, services.store.get_by_key, endpoints.store.get_by_key
        )
        self.changes = 0
        """Owner changes applied so far."""
        self.last_change = 0.0
        """time.time() of the last change (for logs and tests)."""
        self.on_change: list[Callable[[str], None]] = []
        zone.set_owner(ZONE_OWNER, records.zone_records(zone.domain))
        services.add_event_handler(self._service, self._service_update, self._service_deleted)
        endpoints.add_event_handler(self._endpoints, self._endpoints_update, self._endpoints)

    @property
    def ready(self) -> bool:
        return self.services.has_synced and self.endpoints.has_synced

    def _service(self, service: dict[str, Any]) -> None:
        self.refresh(ns_name(service))

    def _service_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.refresh(ns_name(new))

    def _service_deleted(self, service: dict[str, Any]) -> None:
        key = ns_name(service)
        self.endpoint_names.update(key, None, None)
        if self.zone.remove_owner(key):
            self._changed(key)

    def _endpoints(self, endpoints: dict[str, Any]) -> None:
        self.refresh(ns_name(endpoints))

    def _endpoints_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.refresh(ns_name(new))

    def refresh(self, key: str) -> None:
        """Recompute the records of Service `key` from what the informers hold now."""
        service = self.services.store.get_by_key(key)
        endpoints = self.endpoints.store.get_by_key(key)
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
