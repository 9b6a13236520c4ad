"""The objects that make the metrics server reachable through the aggregation layer, kept
current by the server itself (what metrics-server's manifests and its pod give a cluster):

    Service     kube-system/metrics-server      port 443 "https", no selector
    Endpoints   kube-system/metrics-server      <advertise address>:<secure port>
    APIService  v1beta1.metrics.k8s.io          -> that Service, caBundle = its serving CA

On exit the Endpoints lose their address, so the APIService turns unavailable at once and
discovery stops listing metrics.k8s.io (an advertised group that fails breaks clients).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from minik8s.api import errors, resources
from minik8s.client.api import ApiClient
from minik8s.metricsserver import api

logger = logging.getLogger(__name__)

Object = dict[str, Any]
PORT_NAME = "https"
SERVICE_PORT = 443
APISERVICE_NAME = f"{api.VERSION}.{api.GROUP}"
LABELS = {"k8s-app": "metrics-server"}


def service(namespace: str, name: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "spec": {
            "ports": [
                {"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                 "targetPort": PORT_NAME}
            ]
        },
    }  # fmt: skip


def endpoints(namespace: str, name: str, address: str | None, port: int) -> Object:
    subsets = (
        [{"addresses": [{"ip": address}], "ports": [{"name": PORT_NAME, "port": port,
                                                      "protocol": "TCP"}]}]
        if address
        else []
    )  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "subsets": subsets,
    }


def apiservice(namespace: str, name: str, ca_pem: bytes) -> Object:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE_NAME, "labels": dict(LABELS)},
        "spec": {
            "service": {"namespace": namespace, "name": name, "port": SERVICE_PORT},
            "group": api.GROUP,
            "version": api.VERSION,
            "caBundle": base64.b64encode(ca_pem).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


async def ensure(client: ApiClient, desired: Object, rt: resources.ResourceType) -> None:
    """Create `desired`, or make the stored object's spec (subsets) match it."""
    namespace = desired["metadata"].get("namespace")
    try:
        await client.create(rt, desired, namespace)
        return
    except errors.AlreadyExists:
        pass
    current = await client.get(rt, desired["metadata"]["name"], namespace)
    changed = False
    for key in ("spec", "subsets"):
        if key in desired and current.get(key) != desired[key]:
            wanted = dict(desired[key]) if isinstance(desired[key], dict) else desired[key]
            if rt is resources.SERVICES and isinstance(wanted, dict):
                wanted = {**current.get("spec", {}), **wanted}  # keep the allocated ClusterIP
            if current.get(key) != wanted:
                current[key] = wanted
                changed = True
    if changed:
        await client.update(rt, current)


async def register(
    client: ApiClient, namespace: str, name: str, address: str, port: int, ca_pem: bytes
) -> None:
    await ensure(client, service(namespace, name), resources.SERVICES)
    await ensure(client, endpoints(namespace, name, address, port), resources.ENDPOINTS)
    await ensure(client, apiservice(namespace, name, ca_pem), resources.APISERVICES)
    logger.info("registered %s at %s:%d", APISERVICE_NAME, address, port)


async def deregister(client: ApiClient, namespace: str, name: str) -> None:
    try:
        await ensure(client, endpoints(namespace, name, None, 0), resources.ENDPOINTS)
    except errors.ApiError as e:
        logger.warning("could not clear the endpoints of %s/%s: %s", namespace, name, e)
