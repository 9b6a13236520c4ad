"""What Services' external traffic fields mean, in one place (pure).

Kubernetes' service helpers (`k8s.io/cloud-provider/service/helpers`, `pkg/apis/core/v1/
helper`): the apiserver validates with them, kube-proxy programs from them, the cloud
controller decides from them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
"""The older way to give `loadBalancerSourceRanges` (comma-separated), used when the field is
empty."""
LOAD_BALANCER_CLEANUP_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
"""Set by the service controller before it makes a load balancer, removed once it is gone."""
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")
IP_MODES = ["Proxy", "VIP"]


def _spec(service: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = service.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def is_load_balancer(service: Mapping[str, Any]) -> bool:
    return _spec(service).get("type") == "LoadBalancer"


def externally_accessible(spec: Mapping[str, Any]) -> bool:
    """NodePort and LoadBalancer Services (we program no externalIPs)."""
    return spec.get("type") in EXTERNAL_TYPES


def external_policy_local(spec: Mapping[str, Any]) -> bool:
    """External traffic stays on the node it arrives at, keeping its client address."""
    return externally_accessible(spec) and spec.get("externalTrafficPolicy") == "Local"


def needs_health_check(spec: Mapping[str, Any]) -> bool:
    """A LoadBalancer with `externalTrafficPolicy: Local`: kube-proxy serves
    `healthCheckNodePort` so that a load balancer sends only to nodes with endpoints."""
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def source_range_texts(service: Mapping[str, Any]) -> list[str]:
    """`spec.loadBalancerSourceRanges`, or else the annotation's comma-separated list."""
    ranges = _spec(service).get("loadBalancerSourceRanges")
    if isinstance(ranges, list) and ranges:
        return [str(r).strip() for r in ranges]
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(SOURCE_RANGES_ANNOTATION)
    if not isinstance(text, str) or not text.strip():
        return []
    return [part.strip() for part in text.split(",")]


def load_balancer_source_ranges(service: Mapping[str, Any]) -> list[str]:
    """The source ranges as normalised IPv4 networks (`10.0.0.1/24` → `10.0.0.0/24`); raises
    ValueError for one that is not a CIDR."""
    result = []
    for text in source_range_texts(service):
        network = ipaddress.ip_network(text, strict=False)
        if network.version != 4:
            raise ValueError(f"{text}: only IPv4 ranges are supported")
        result.append(str(network))
    return result


def load_balancer_ips(service: Mapping[str, Any]) -> list[str]:
    """The ingress IPs kube-proxy captures: those in `VIP` mode (the default); `Proxy` mode
    load balancers send to the nodes themselves."""
    status = service.get("status")
    load_balancer = status.get("loadBalancer") if isinstance(status, Mapping) else None
    ingress = load_balancer.get("ingress") if isinstance(load_balancer, Mapping) else None
    ips = []
    for entry in ingress if isinstance(ingress, list) else ():
        if not isinstance(entry, Mapping) or not entry.get("ip"):
            continue
        if (entry.get("ipMode") or "VIP") == "VIP":
            ips.append(str(entry["ip"]))
    return ips
