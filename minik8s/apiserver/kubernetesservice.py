"""The `kubernetes` Service in `default`, its Endpoints and its EndpointSlice: every live
apiserver.

As Kubernetes' controlplane does: the Service gets the first address of the Service range
(10.96.0.1) and port 443 (`https`) → the apiservers' secure port; its Endpoints list the
apiservers that are alive, from their identity Leases (`controlplane/endpoints_plan.py`, the
`lease` endpoint reconciler run by `controlplane/identity.py`): an apiserver that stops is
removed at once, one that dies when its Lease expires. Whatever someone else changes (the
Service's ports, the Endpoints) is put back at the next round. The EndpointSlice `kubernetes`
mirrors the Endpoints' first subset, as Kubernetes' endpoints adapter writes it (the Service
has no selector, so the EndpointSlice controller leaves it alone; the Endpoints is labelled
`endpointslice.kubernetes.io/skip-mirror`, as Kubernetes' reconcilers label it, so the
mirroring controller leaves it alone too).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from minik8s.api import endpointslices, errors
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES, ResourceType
from minik8s.apiserver.controlplane import endpoints_plan
from minik8s.apiserver.registry import Registry

logger = logging.getLogger(__name__)

NAME = "kubernetes"
NAMESPACE = "default"
PORT_NAME = endpoints_plan.PORT_NAME
SERVICE_PORT = 443
LABELS = {"component": "apiserver", "provider": "kubernetes"}
SKIP_MIRROR = {endpointslices.SKIP_MIRROR_LABEL: "true"}


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


class KubernetesService:
    def __init__(self, registry: Registry, service_cidr: str, port: int) -> None:
        self.registry = registry
        self.service_cidr = service_cidr
        self.port = port

    async def _get_or_create(self, rt: ResourceType, body: Object) -> Object | None:
        """The object as stored, or None after creating `body` (or when another apiserver
        created it meanwhile: the next round compares)."""
        try:
            return await self.registry.get(rt, NAMESPACE, NAME)
        except errors.NotFound:
            pass
        try:
            await self.registry.create(rt, NAMESPACE, body)
        except errors.AlreadyExists:
            pass
        return None

    async def ensure_service(self) -> None:
        """Create the Service, or put its ports back when someone changed them."""
        wanted = desired_service(self.service_cidr, self.port)
        current = await self._get_or_create(SERVICES, wanted)
        if current is None:
            logger.info("created service %s/%s at %s", NAMESPACE, NAME, wanted["spec"]["clusterIP"])
            return
        ports = (current.get("spec") or {}).get("ports") or []
        if _port_view(ports) == _port_view(wanted["spec"]["ports"]):
            return
        updated = {**current, "spec": {**current["spec"], "ports": wanted["spec"]["ports"]}}
        updated["metadata"] = dict(current["metadata"])  # its resourceVersion: compare-and-swap
        try:
            await self.registry.update(SERVICES, NAMESPACE, NAME, updated)
        except errors.Conflict:
            return  # changed meanwhile (another apiserver?): the next round looks again
        logger.info("service %s/%s: ports set back from %s", NAMESPACE, NAME, _port_view(ports))

    async def set_endpoints(self, endpoints: list[tuple[str, int]]) -> None:
        """Make the Endpoints list exactly `endpoints` (none: no subsets), then the
        EndpointSlice."""
        subsets = endpoints_plan.subsets(endpoints)
        if await self._write_endpoints(subsets):
            logger.info("endpoints %s/%s: %s", NAMESPACE, NAME, _show(endpoints))
        await self.set_endpoint_slice(subsets)

    async def _write_endpoints(self, subsets: list[Object]) -> bool:
        """True if the Endpoints were created or changed."""
        body: Object = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": NAME, "namespace": NAMESPACE, "labels": {**LABELS, **SKIP_MIRROR}
            },
            "subsets": subsets,
        }  # fmt: skip
        current = await self._get_or_create(ENDPOINTS, body)
        if current is None:
            return True
        labels = current["metadata"].get("labels") or {}
        if (current.get("subsets") or []) == subsets and SKIP_MIRROR.items() <= labels.items():
            return False
        metadata = {k: v for k, v in current["metadata"].items() if k != "resourceVersion"}
        metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        metadata["labels"] = {**labels, **SKIP_MIRROR}  # Kubernetes' setSkipMirrorTrue
        await self.registry.update(
            ENDPOINTS, NAMESPACE, NAME, {**current, "metadata": metadata, "subsets": subsets}
        )
        return True

    async def set_endpoint_slice(self, subsets: list[Object]) -> None:
        """Make the EndpointSlice `kubernetes` hold the first subset (created if missing)."""
        wanted = endpoints_plan.endpoint_slice(NAME, NAMESPACE, subsets)
        current = await self._get_or_create(ENDPOINTSLICES, wanted)
        if current is None:
            return
        if all(current.get(k) == wanted.get(k) for k in ("addressType", "endpoints", "ports")) and (
            (current.get("metadata") or {}).get("labels") == wanted["metadata"]["labels"]
        ):
            return
        metadata = {**current["metadata"], "labels": wanted["metadata"]["labels"]}
        try:
            await self.registry.update(
                ENDPOINTSLICES, NAMESPACE, NAME, {**wanted, "metadata": metadata}
            )
        except errors.Conflict:
            return  # changed meanwhile: the next round looks again


def _port_view(ports: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (p.get("name"), p.get("port"), p.get("protocol") or "TCP", p.get("targetPort"))
        for p in ports
    ]


def _show(endpoints: list[tuple[str, int]]) -> str:
    return ", ".join(f"{ip}:{port}" for ip, port in endpoints) or "(none)"
