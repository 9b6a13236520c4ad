"""Validation of Services and Endpoints."""

from __future__ import annotations

import ipaddress
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import serviceutil
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.container import PROTOCOLS, validate_port_num_or_name
from minik8s.api.validation.meta import (
    child,
    enum,
    immutable,
    index,
    invalid,
    invalid_each,
    items,
    mapping,
    required,
    validate_labels,
)

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")


def validate_service_spec(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    service_type = spec.get("type") or "ClusterIP"
    causes += enum("spec.type", spec.get("type"), SERVICE_TYPES)
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    ports = items(spec, "ports")
    external_name = service_type == "ExternalName"
    if not ports and not headless and not external_name and service_type in SERVICE_TYPES:
        causes.append(required("spec.ports"))
    causes += _validate_service_ports(ports, service_type)
    if external_name:
        causes += _validate_external_name(spec)
    else:
        causes += _validate_cluster_ip(cluster_ip, service_type)
    causes += enum("spec.sessionAffinity", spec.get("sessionAffinity"), SESSION_AFFINITIES)
    timeout = mapping(mapping(spec, "sessionAffinityConfig"), "clientIP").get("timeoutSeconds")
    if timeout is not None and not 0 < timeout <= 86400:
        causes.append(
            invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                timeout,
                "must be greater than 0 and less than 86400",
            )
        )
    external_policy = spec.get("externalTrafficPolicy")
    if external_policy and service_type not in EXTERNAL_TYPES:
        causes.append(
            invalid(
                "spec.externalTrafficPolicy",
                external_policy,
                "may only be set for externally-accessible services",
            )
        )
    else:
        causes += enum("spec.externalTrafficPolicy", external_policy, TRAFFIC_POLICIES)
    causes += enum(
        "spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), TRAFFIC_POLICIES
    )
    causes += validate_labels(mapping(spec, "selector"), "spec.selector")
    return causes


def validate_service(service: dict[str, Any]) -> list[Cause]:
    """The spec, and the load balancer fields (some live in annotations)."""
    spec = mapping(service, "spec")
    return validate_service_spec(spec) + _validate_load_balancer_fields(service, spec)


def _validate_load_balancer_fields(service: dict[str, Any], spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    load_balancer = spec.get("type") == "LoadBalancer"
    only_lb = "may only be used when `type` is 'LoadBalancer'"
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None and not load_balancer:
        causes.append(api_errors.forbidden("spec.loadBalancerClass", only_lb))
    elif lb_class is not None:
        causes += invalid_each("spec.loadBalancerClass", lb_class, fmt.is_qualified_name(lb_class))
    allocate = spec.get("allocateLoadBalancerNodePorts")
    if allocate is not None and not load_balancer:
        causes.append(api_errors.forbidden("spec.allocateLoadBalancerNodePorts", only_lb))
    elif allocate is None and load_balancer:
        causes.append(required("spec.allocateLoadBalancerNodePorts"))
    port = spec.get("healthCheckNodePort")
    if port and not serviceutil.needs_health_check(spec):
        causes.append(api_errors.forbidden(
            "spec.healthCheckNodePort",
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ))  # fmt: skip
    elif isinstance(port, int) and port < 0:
        causes.append(invalid("spec.healthCheckNodePort", port,
                              "HealthCheckNodePort must be not less than 0"))  # fmt: skip
    elif port:
        causes += invalid_each("spec.healthCheckNodePort", port, fmt.is_valid_port_num(port))
    ip = spec.get("loadBalancerIP")
    if ip and not fmt.is_ipv4(ip):
        causes.append(invalid("spec.loadBalancerIP", ip, "must be a valid IPv4 address"))
    texts = serviceutil.source_range_texts(service)
    if texts:
        # Kubernetes' own field path, capitalised as it writes it
        field = ("spec.LoadBalancerSourceRanges" if spec.get("loadBalancerSourceRanges")
                 else f"metadata.annotations[{serviceutil.SOURCE_RANGES_ANNOTATION}]")  # fmt: skip
        if not load_balancer:
            causes.append(api_errors.forbidden(field, only_lb))
        try:
            serviceutil.load_balancer_source_ranges(service)
        except ValueError:
            causes.append(invalid(field, "[" + " ".join(texts) + "]",
                                  "must be a list of IP ranges. For example, "
                                  "10.240.0.0/24,10.250.0.0/24 "))  # fmt: skip
    return causes


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """clusterIP is fixed once allocated; an absent clusterIP in the update means "unchanged".
    A LoadBalancer keeps its `loadBalancerClass`."""
    new_spec, old_spec = mapping(new, "spec"), mapping(old, "spec")
    causes: list[Cause] = []
    old_ip = old_spec.get("clusterIP") or ""
    new_ip = new_spec.get("clusterIP") or ""
    if old_ip and new_ip:
        causes += immutable("spec.clusterIP", new_ip, old_ip)
    both_lb = old_spec.get("type") == new_spec.get("type") == "LoadBalancer"
    if both_lb and old_spec.get("loadBalancerClass") != new_spec.get("loadBalancerClass"):
        causes.append(invalid("spec.loadBalancerClass", new_spec.get("loadBalancerClass"),
                              "may not change once set"))  # fmt: skip
    return causes


def validate_service_status(service: dict[str, Any]) -> list[Cause]:
    """`status.loadBalancer.ingress` (Kubernetes' ValidateLoadBalancerStatus)."""
    causes: list[Cause] = []
    ingress = items(mapping(mapping(service, "status"), "loadBalancer"), "ingress")
    for i, entry in enumerate(ingress):
        path = index("status.loadBalancer.ingress", i)
        ip, mode, hostname = entry.get("ip"), entry.get("ipMode"), entry.get("hostname")
        if ip:
            causes += invalid_each(child(path, "ip"), ip, fmt.is_valid_ip(str(ip)))
        if mode is None and ip:
            causes.append(required(child(path, "ipMode"), "must be specified when `ip` is set"))
        elif mode is not None and not ip:
            detail = "may not be specified when `ip` is not set"
            causes.append(api_errors.forbidden(child(path, "ipMode"), detail))
        elif mode is not None:
            causes += enum(child(path, "ipMode"), mode, serviceutil.IP_MODES)
        if hostname:
            causes += invalid_each(child(path, "hostname"), hostname,
                                   fmt.is_dns1123_subdomain(str(hostname)))  # fmt: skip
            if not fmt.is_valid_ip(str(hostname)):
                causes.append(invalid(child(path, "hostname"), hostname,
                                      "must be a DNS name, not an IP address"))  # fmt: skip
    return causes


def _validate_service_ports(ports: list[dict[str, Any]], service_type: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        path = index("spec.ports", i)
        causes += _validate_port(port, path, len(ports) > 1, names)
        target = port.get("targetPort")
        if target not in (None, 0, ""):
            causes += validate_port_num_or_name(target, child(path, "targetPort"))
        node_port = port.get("nodePort")
        if node_port and service_type not in EXTERNAL_TYPES:
            causes.append(
                api_errors.forbidden(
                    child(path, "nodePort"), "may not be used when `type` is 'ClusterIP'"
                )
            )
        elif node_port:
            causes += invalid_each(
                child(path, "nodePort"), node_port, fmt.is_valid_port_num(node_port)
            )
            identity = (port.get("protocol") or "TCP", node_port)
            if identity in node_ports:
                causes.append(api_errors.duplicate(child(path, "nodePort"), node_port))
            node_ports.add(identity)
    return causes


def _validate_external_name(spec: dict[str, Any]) -> list[Cause]:
    """Kubernetes': no ClusterIP, and a DNS-1123 subdomain (a trailing dot allowed)."""
    causes: list[Cause] = []
    if spec.get("clusterIP") not in (None, ""):
        causes.append(
            api_errors.forbidden("spec.clusterIP", "may not be set for ExternalName services")
        )
    name = spec.get("externalName")
    if not name:
        causes.append(required("spec.externalName"))
    elif not isinstance(name, str):
        causes.append(invalid("spec.externalName", name, "must be a string"))
    else:
        causes += invalid_each(
            "spec.externalName",
            name,
            fmt.is_dns1123_subdomain(name[:-1] if name.endswith(".") else name),
        )
    return causes


def _validate_cluster_ip(cluster_ip: Any, service_type: str) -> list[Cause]:
    if cluster_ip in (None, ""):
        return []
    if cluster_ip == "None":
        if service_type in EXTERNAL_TYPES:
            return [
                invalid(
                    "spec.clusterIP",
                    cluster_ip,
                    f"may not be set to 'None' for {service_type} services",
                )
            ]
        return []
    messages = fmt.is_valid_ip(cluster_ip)
    if messages:
        return invalid_each("spec.clusterIP", cluster_ip, messages)
    if not fmt.is_ipv4(cluster_ip):
        return [
            invalid(
                "spec.clusterIP",
                cluster_ip,
                "expected an IPv4 value as indicated by `ipFamilies[0]`",
            )
        ]
    return []


def validate_endpoints(endpoints: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(items(endpoints, "subsets")):
        path = index("subsets", i)
        addresses = items(subset, "addresses")
        not_ready = items(subset, "notReadyAddresses")
        if not addresses and not not_ready:
            causes.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for field, entries in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for j, address in enumerate(entries):
                ip_path = child(index(child(path, field), j), "ip")
                ip = str(address.get("ip") or "")
                problems = fmt.is_valid_ip(ip) or non_special_ip(ip)
                causes += invalid_each(ip_path, address.get("ip"), problems)
        causes += _validate_endpoint_ports(items(subset, "ports"), child(path, "ports"))
    return causes


def non_special_ip(ip: str) -> list[str]:
    """Kubernetes' ValidateNonSpecialIP: an endpoint may not be unspecified, loopback or
    link-local (the node's own services, a cloud's metadata service)."""
    address = ipaddress.ip_address(ip)
    problems = []
    if address.is_unspecified:
        problems.append(f"may not be unspecified ({ip})")
    if address.is_loopback:
        problems.append("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if address.is_link_local and not address.is_multicast:
        problems.append("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if address in _LINK_LOCAL_MULTICAST[address.version]:
        problems.append("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    return problems


_LINK_LOCAL_MULTICAST = {
    4: ipaddress.ip_network("224.0.0.0/24"),
    6: ipaddress.ip_network("ff02::/16"),
}


def _validate_endpoint_ports(ports: list[dict[str, Any]], path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        causes += _validate_port(port, index(path, i), len(ports) > 1, names)
    return causes


def _validate_port(
    port: dict[str, Any], path: str, require_name: bool, names: set[str]
) -> list[Cause]:
    """What a ServicePort and an EndpointPort share: a DNS-1123 label `name`, unique among
    the `names` seen so far (and required when there are several ports), a valid `port`
    number and a known `protocol`."""
    causes: list[Cause] = []
    name = port.get("name") or ""
    if require_name and not name:
        causes.append(required(child(path, "name")))
    elif name:
        causes += invalid_each(child(path, "name"), name, fmt.is_dns1123_label(name))
        if name in names:
            causes.append(api_errors.duplicate(child(path, "name"), name))
        names.add(name)
    if isinstance(port.get("port"), int):
        causes += invalid_each(
            child(path, "port"), port["port"], fmt.is_valid_port_num(port["port"])
        )
    causes += enum(child(path, "protocol"), port.get("protocol"), PROTOCOLS)
    return causes
