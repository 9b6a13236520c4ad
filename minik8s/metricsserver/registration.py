"""The objects that make the metrics server reachable through the aggregation layer, kept
current by the server itself (what metrics-server's manifests and its pod give a cluster):

    Service     kube-system/metrics-server      port 443 "https" -> targetPort <secure port>,
                                                no selector, no Endpoints
    APIService  v1beta1.metrics.k8s.io          -> that Service, caBundle = its serving CA

The server is a process on this machine, not a pod: Endpoints may not hold a loopback address
(Kubernetes' validation), so the apiserver is started with
`--aggregator-loopback-services=kube-system/metrics-server` and reaches it at 127.0.0.1 and the
targetPort. On exit the Service is deleted, so the APIService turns unavailable at once and
discovery stops listing metrics.k8s.io (an advertised group that fails breaks clients).
"""

from __future__ import annotations

import base64
import logging

from minik8s.api import errors, resources
from minik8s.api.meta import Object
from minik8s.client.api import ApiClient
from minik8s.metricsserver import api

logger = logging.getLogger(__name__)

PORT_NAME = "https"
SERVICE_PORT = 443
APISERVICE_NAME = f"{api.VERSION}.{api.GROUP}"
LABELS = {"k8s-app": "metrics-server"}


def service(namespace: str, name: str, port: int) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "spec": {
            "ports": [
                {"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP", "targetPort": port}
            ]
        },
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


CONFLICT_RETRIES = 5
"""Read-modify-write attempts when another writer (the aggregator's availability status of the
APIService) changed the object in between (client-go's `retry.RetryOnConflict`)."""


async def ensure(client: ApiClient, desired: Object, rt: resources.ResourceType) -> None:
    """Create `desired`, or make the stored object's spec (subsets) match it."""
    namespace = desired["metadata"].get("namespace")
    try:
        await client.create(rt, desired, namespace)
        return
    except errors.AlreadyExists:
        pass
    for attempt in range(CONFLICT_RETRIES):
        try:
            await _update_spec(client, desired, rt, namespace)
            return
        except errors.Conflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise


async def _update_spec(
    client: ApiClient, desired: Object, rt: resources.ResourceType, namespace: str | None
) -> None:
    current = await client.get(rt, desired["metadata"]["name"], namespace)
    changed = False
    for key in ("spec",):
        if key in desired and current.get(key) != desired[key]:
            wanted = dict(desired[key]) if isinstance(desired[key], dict) else desired[key]
            if rt is resources.SERVICES and isinstance(wanted, dict):
                wanted = {**current.get("spec", {}), **wanted}  # keep the allocated ClusterIP
            if current.get(key) != wanted:
                current[key] = wanted
                changed = True
    if changed:
        await client.update(rt, current)


async def register(client: ApiClient, namespace: str, name: str, port: int, ca_pem: bytes) -> None:
    await ensure(client, service(namespace, name, port), resources.SERVICES)
    await ensure(client, apiservice(namespace, name, ca_pem), resources.APISERVICES)
    logger.info("registered %s at 127.0.0.1:%d", APISERVICE_NAME, port)


async def deregister(client: ApiClient, namespace: str, name: str) -> None:
    try:
        await client.delete(resources.SERVICES, name, namespace)
    except errors.NotFound:
        pass
    except errors.ApiError as e:
        logger.warning("could not delete the service %s/%s: %s", namespace, name, e)
