"""EndpointSlices as tests write them by hand: one slice of a Service, IPv4, its endpoints'
conditions ready unless told otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from minik8s.api.endpointslices import SERVICE_NAME_LABEL

HTTP = ({"name": "http", "port": 8080, "protocol": "TCP"},)


def endpoint(
    ip: str,
    node: str | None = None,
    ready: bool = True,
    serving: bool | None = None,
    terminating: bool = False,
) -> dict[str, Any]:
    conditions = {
        "ready": ready,
        "serving": ready if serving is None else serving,
        "terminating": terminating,
    }
    found: dict[str, Any] = {"addresses": [ip], "conditions": conditions}
    if node is not None:
        found["nodeName"] = node
    return found


def endpoint_slice(
    service: str,
    endpoints: Iterable[str | Mapping[str, Any]] = (),
    *,
    namespace: str = "default",
    ports: Iterable[Mapping[str, Any]] = HTTP,
    name: str | None = None,
) -> dict[str, Any]:
    """A slice of `service` (named after it unless `name`): each endpoint an IP (ready) or an
    `endpoint(...)`."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or service,
            "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service},
        },
        "addressType": "IPv4",
        "endpoints": [endpoint(e) if isinstance(e, str) else dict(e) for e in endpoints],
        "ports": [dict(p) for p in ports],
    }
