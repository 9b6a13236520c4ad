"""EndpointSlice vocabulary shared by their writers and readers: Kubernetes' well-known labels,
the Service a slice belongs to, and how a reader takes an endpoint's conditions (discovery/v1
leaves them unset for "unknown"; kube-proxy's endpointslicecache reads unset ready and serving
as true and unset terminating as false)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
"""`"true"` on an Endpoints: the mirroring controller leaves it alone (the apiserver's
`default/kubernetes` has it: it writes that slice itself)."""
SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
"""A Service (and its slices) so labelled is left to another proxy: kube-proxy skips it."""
PROXY_SELECTOR = f"!{SERVICE_PROXY_NAME_LABEL},!{HEADLESS_LABEL}"
"""The label selector of kube-proxy's Service and EndpointSlice informers."""

ServiceName = tuple[str, str]
"""(namespace, name)."""


class Conditions(NamedTuple):
    ready: bool
    serving: bool
    terminating: bool


def conditions(endpoint: Mapping[str, Any]) -> Conditions:
    """An endpoint's conditions as kube-proxy reads them (unset ready or serving: true)."""
    found = endpoint.get("conditions") or {}
    return Conditions(
        found.get("ready") is not False,
        found.get("serving") is not False,
        found.get("terminating") is True,
    )


def service_of(slice_: Mapping[str, Any]) -> ServiceName | None:
    """The Service a slice belongs to (its `kubernetes.io/service-name` label), or None."""
    metadata = slice_.get("metadata") or {}
    name = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return (metadata.get("namespace") or "", name) if name else None


def by_service(
    slices: Iterable[Mapping[str, Any]], address_type: str = "IPv4"
) -> dict[ServiceName, list[Mapping[str, Any]]]:
    """The slices of `address_type` of each Service."""
    found: dict[ServiceName, list[Mapping[str, Any]]] = {}
    for slice_ in slices:
        service = service_of(slice_)
        if service is not None and slice_.get("addressType") == address_type:
            found.setdefault(service, []).append(slice_)
    return found


def port_number(slice_: Mapping[str, Any], name: str, protocol: str) -> int | None:
    """The number of the slice's port called `name` (`""`: unnamed) with `protocol` (upper or
    lower case), or None when the slice has no such port."""
    protocol = protocol.upper()
    for port in slice_.get("ports") or ():
        if (port.get("name") or "") == name and (port.get("protocol") or "TCP") == protocol:
            number = port.get("port")
            return number if isinstance(number, int) else None
    return None
