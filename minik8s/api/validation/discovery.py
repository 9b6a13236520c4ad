"""Validation of discovery.k8s.io/v1 EndpointSlices (Kubernetes' discovery validation)."""

from __future__ import annotations

import ipaddress
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.container import PROTOCOLS
from minik8s.api.validation.meta import (
    child,
    enum,
    immutable,
    index,
    invalid_each,
    items,
    required,
    validate_labels,
)
from minik8s.api.validation.service import non_special_ip

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_TOPOLOGY_LABELS = 16
MAX_ZONE_HINTS = 8
ZONE_LABEL = "topology.kubernetes.io/zone"


def too_many(field: str, count: int, limit: int) -> Cause:
    return Cause(field, f"Too many: {count}: must have at most {limit} items", "FieldValueTooMany")


def validate_endpoint_slice(slice_: dict[str, Any]) -> list[Cause]:
    address_type = slice_.get("addressType")
    if not address_type:
        causes = [required("addressType")]
    else:
        causes = enum("addressType", address_type, ADDRESS_TYPES)
    if not isinstance(slice_.get("endpoints"), list):
        causes.append(required("endpoints"))
    causes += _validate_endpoints(items(slice_, "endpoints"), str(address_type or ""))
    causes += _validate_ports(items(slice_, "ports"))
    return causes


def validate_endpoint_slice_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    return immutable("addressType", new.get("addressType"), old.get("addressType"))


def _validate_endpoints(endpoints: list[dict[str, Any]], address_type: str) -> list[Cause]:
    if len(endpoints) > MAX_ENDPOINTS:
        return [too_many("endpoints", len(endpoints), MAX_ENDPOINTS)]
    causes: list[Cause] = []
    for i, endpoint in enumerate(endpoints):
        path = index("endpoints", i)
        addresses_path = child(path, "addresses")
        addresses = endpoint.get("addresses") or []
        if not addresses:
            causes.append(required(addresses_path, "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            causes.append(too_many(addresses_path, len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses[:MAX_ADDRESSES]):
            causes += invalid_each(
                index(addresses_path, j), address, _address_problems(str(address), address_type)
            )
        node_name = endpoint.get("nodeName")
        if node_name is not None:
            causes += invalid_each(
                child(path, "nodeName"), node_name, fmt.is_dns1123_subdomain(str(node_name))
            )
        hostname = endpoint.get("hostname")
        if hostname is not None:
            causes += invalid_each(
                child(path, "hostname"), hostname, fmt.is_dns1123_label(str(hostname))
            )
        causes += _validate_topology(
            endpoint.get("deprecatedTopology"), child(path, "deprecatedTopology")
        )
        causes += _validate_hints(endpoint.get("hints"), child(path, "hints"))
    return causes


def _address_problems(address: str, address_type: str) -> list[str]:
    """For IPv4 and IPv6: an address of that family, and (Kubernetes' ValidateEndpointIP)
    a valid IP that is not a special one, both checked; for FQDN a fully qualified domain
    name. An unknown address type is reported once, at `addressType`."""
    if address_type in ("IPv4", "IPv6"):
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return [f"must be a valid {address_type} address", "must be a valid IP address"]
        family = (
            []
            if f"IPv{parsed.version}" == address_type
            else [f"must be a valid {address_type} address"]
        )
        return family + non_special_ip(address)
    if address_type == "FQDN":
        return _fqdn_problems(address)
    return []


def _fqdn_problems(name: str) -> list[str]:
    trimmed = name.removesuffix(".")
    problems = fmt.is_dns1123_subdomain(trimmed)
    if not problems and len(trimmed.split(".")) < 2:
        problems = ["should be a domain with at least two segments separated by dots"]
    return problems


def _validate_topology(topology: Any, path: str) -> list[Cause]:
    if not isinstance(topology, dict):
        return []
    causes: list[Cause] = []
    if len(topology) > MAX_TOPOLOGY_LABELS:
        causes.append(too_many(path, len(topology), MAX_TOPOLOGY_LABELS))
    causes += validate_labels(topology, path)
    if ZONE_LABEL in topology:
        causes.append(
            Cause(
                f"{path}[{ZONE_LABEL}]",
                "Internal error: must be specified in `zone` field",
                "InternalError",
            )
        )
    return causes


def _validate_hints(hints: Any, path: str) -> list[Cause]:
    if not isinstance(hints, dict):
        return []
    zones_path = child(path, "forZones")
    zones = items(hints, "forZones")
    if len(zones) > MAX_ZONE_HINTS:
        return [too_many(zones_path, len(zones), MAX_ZONE_HINTS)]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        name_path = child(index(zones_path, i), "name")
        name = str(zone.get("name") or "")
        if name in seen:
            causes.append(api_errors.duplicate(name_path, name))
        seen.add(name)
        causes += invalid_each(name_path, name, fmt.is_label_value(name))
    return causes


def _validate_ports(ports: list[dict[str, Any]]) -> list[Cause]:
    if len(ports) > MAX_PORTS:
        return [too_many("ports", len(ports), MAX_PORTS)]
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = index("ports", i)
        name = str(port.get("name") or "")
        if name:
            causes += invalid_each(child(path, "name"), name, fmt.is_dns1123_label(name))
        if name in names:
            causes.append(api_errors.duplicate(child(path, "name"), name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            causes.append(required(child(path, "protocol")))
        else:
            causes += enum(child(path, "protocol"), protocol, PROTOCOLS)
        app_protocol = port.get("appProtocol")
        if app_protocol is not None:
            causes += invalid_each(
                child(path, "appProtocol"), app_protocol, fmt.is_qualified_name(str(app_protocol))
            )
    return causes
