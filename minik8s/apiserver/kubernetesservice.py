"""The `kubernetes` Service in `default` and its Endpoints, pointing at this apiserver.

As Kubernetes' controlplane does: the Service gets the first address of the Service range
(10.96.0.1) and port 443 (`https`) → the secure port; the endpoint reconciler keeps the
Endpoints at `--advertise-address:--secure-port`, checking every `interval` seconds and putting
back whatever someone changed. One apiserver is assumed (Kubernetes' `master-count` reconciler
with a count of 1): the Endpoints hold this apiserver only, and stay when it stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from minik8s.api import errors
from minik8s.api.resources import ENDPOINTS, SERVICES
from minik8s.apiserver.registry import Registry

logger = logging.getLogger(__name__)

NAME = "kubernetes"
NAMESPACE = "default"
PORT_NAME = "https"
SERVICE_PORT = 443
LABELS = {"component": "apiserver", "provider": "kubernetes"}
INTERVAL = 10.0
"""Seconds between two checks (Kubernetes' `EndpointInterval`)."""


def service_ip(service_cidr: str) -> str:
    """The first address of the range: 10.96.0.1 for 10.96.0.0/16."""
    return str(ipaddress.ip_network(service_cidr, strict=False).network_address + 1)


def desired_service(service_cidr: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": service_ip(service_cidr),
            "sessionAffinity": "None",
            "ports": [
                {"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP", "targetPort": port}
            ],
        },
    }


def desired_subsets(address: str, port: int) -> list[dict[str, Any]]:
    return [
        {
            "addresses": [{"ip": address}],
            "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        }
    ]


class KubernetesService:
    """Creates the Service once, then reconciles its Endpoints until stopped."""

    def __init__(
        self, registry: Registry, service_cidr: str, address: str, port: int, interval: float
    ) -> None:
        self.registry = registry
        self.service_cidr = service_cidr
        self.address = address
        self.port = port
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except errors.ApiError as e:
                logger.warning(
                    "kubernetes service: %s (retrying in %.0fs)", e.message, self.interval
                )
            await asyncio.sleep(self.interval)

    async def reconcile(self) -> None:
        await self._ensure_service()
        await self._ensure_endpoints()

    async def _ensure_service(self) -> None:
        wanted = desired_service(self.service_cidr, self.port)
        try:
            current = await self.registry.get(SERVICES, NAMESPACE, NAME)
        except errors.NotFound:
            await self.registry.create(SERVICES, NAMESPACE, wanted)
            logger.info("created service %s/%s at %s", NAMESPACE, NAME, wanted["spec"]["clusterIP"])
            return
        ports = (current.get("spec") or {}).get("ports") or []
        if _port_view(ports) != _port_view(wanted["spec"]["ports"]):
            updated = {**current, "spec": {**current["spec"], "ports": wanted["spec"]["ports"]}}
            updated["metadata"] = {
                k: v for k, v in current["metadata"].items() if k != "resourceVersion"
            }
            await self.registry.update(SERVICES, NAMESPACE, NAME, updated)
            logger.info("service %s/%s: ports set back to %s", NAMESPACE, NAME, _port_view(ports))

    async def _ensure_endpoints(self) -> None:
        subsets = desired_subsets(self.address, self.port)
        try:
            current = await self.registry.get(ENDPOINTS, NAMESPACE, NAME)
        except errors.NotFound:
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
                "subsets": subsets,
            }
            await self.registry.create(ENDPOINTS, NAMESPACE, body)
            logger.info("endpoints %s/%s: %s:%d", NAMESPACE, NAME, self.address, self.port)
            return
        if current.get("subsets") != subsets:
            metadata = {k: v for k, v in current["metadata"].items() if k != "resourceVersion"}
            await self.registry.update(
                ENDPOINTS, NAMESPACE, NAME, {**current, "metadata": metadata, "subsets": subsets}
            )
            logger.info("endpoints %s/%s: set to %s:%d", NAMESPACE, NAME, self.address, self.port)


def _port_view(ports: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (p.get("name"), p.get("port"), p.get("protocol") or "TCP", p.get("targetPort"))
        for p in ports
    ]
