"""The Endpoints of a Service, pure: which pods it selects, which are ready, their ports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minik8s.api import endpointslices, meta, podutil, selectors
from minik8s.api.meta import Object

HEADLESS_LABEL = endpointslices.HEADLESS_LABEL


def selects_pods(service: Object) -> bool:
    """Only a Service with a (non-empty) selector gets its Endpoints managed."""
    return bool((service.get("spec") or {}).get("selector"))


def service_matches(service: Object, pod: Object) -> bool:
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return False
    return selectors.label_selector_from_set(selector).matches(meta.labels_of(pod))


def label_pairs(namespace: str | None, labels: Mapping[str, str]) -> list[str]:
    """`<namespace>/<key>=<value>` for each pair: the values of the label indexes below."""
    return [f"{namespace or ''}/{k}={v}" for k, v in labels.items()]


def index_pod_labels(pod: Object) -> list[str]:
    """Index of pods by each of their labels, so a Service's candidates are one bucket."""
    return label_pairs(meta.namespace_of(pod), meta.labels_of(pod))


def index_service_selector(service: Object) -> list[str]:
    """Index of Services by each pair of their selector, so a pod finds the Services that may
    select it through its own labels instead of testing every Service of its namespace."""
    selector = (service.get("spec") or {}).get("selector") or {}
    return label_pairs(meta.namespace_of(service), selector)


def pod_in_endpoints(pod: Object, publish_not_ready: bool) -> bool:
    """Kubernetes' ShouldPodBeInEndpoints: has an IP, not finished, not being deleted."""
    if not (pod.get("status") or {}).get("podIP"):
        return False
    if podutil.pod_phase(pod) in ("Succeeded", "Failed"):
        return False
    return publish_not_ready or not meta.is_deleting(pod)


def resolve_port(pod: Object, service_port: dict[str, Any]) -> int | None:
    """The pod's port a Service port sends to: `targetPort` by name or number (or `port`)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    text = str(target)
    if text.isascii() and text.isdigit():
        return int(text)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == text and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def should_set_hostname(pod: Object, service: Object) -> bool:
    """Kubernetes' ShouldSetHostname: a pod with a `hostname` whose `subdomain` names this
    Service (in its namespace) is published under `<hostname>.<service>` in the DNS."""
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == meta.name_of(service)
        and meta.namespace_of(pod) == meta.namespace_of(service)
    )


def address(pod: Object, service: Object | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ip": (pod.get("status") or {}).get("podIP"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta.namespace_of(pod),
            "name": meta.name_of(pod),
            "uid": meta.uid_of(pod),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        entry["nodeName"] = node
    if service is not None and should_set_hostname(pod, service):
        entry["hostname"] = pod["spec"]["hostname"]
    return entry


def desired_subsets(service: Object, pods: list[Object]) -> list[dict[str, Any]]:
    """Subsets grouping pods by their resolved ports: ready pods in `addresses`, the others
    in `notReadyAddresses`; sorted so equal inputs give equal output."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    if not spec.get("selector"):
        return []
    selector = selectors.label_selector_from_set(spec["selector"])  # compiled once, not per pod
    for pod in pods:
        if not selector.matches(meta.labels_of(pod)) or not pod_in_endpoints(
            pod, publish_not_ready
        ):
            continue
        ports: list[tuple[str, int, str]] = []
        for service_port in service_ports:
            number = resolve_port(pod, service_port)
            if number is not None:
                ports.append((service_port.get("name") or "", number,
                              service_port.get("protocol") or "TCP"))  # fmt: skip
        if service_ports and not ports:
            continue
        group = groups.setdefault(tuple(ports), {"ready": [], "notReady": []})
        ready = publish_not_ready or podutil.pod_is_ready(pod)
        group["ready" if ready else "notReady"].append(address(pod, service))
    subsets = []
    for ports_key in sorted(groups):
        group = groups[ports_key]
        subset: dict[str, Any] = {}
        if group["ready"]:
            subset["addresses"] = sorted(group["ready"], key=_address_key)
        if group["notReady"]:
            subset["notReadyAddresses"] = sorted(group["notReady"], key=_address_key)
        subset["ports"] = [
            {**({"name": name} if name else {}), "port": number, "protocol": protocol}
            for name, number, protocol in ports_key
        ]
        subsets.append(subset)
    return subsets


def _address_key(entry: dict[str, Any]) -> tuple[int, ...] | tuple[str, ...]:
    ip = str(entry.get("ip") or "")
    try:
        return tuple(int(part) for part in ip.split("."))
    except ValueError:
        return (ip,)


def desired_labels(service: Object) -> dict[str, str]:
    labels = meta.labels_of(service)
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def needs_update(existing: Object, subsets: list[dict[str, Any]], labels: dict[str, str]) -> bool:
    return (existing.get("subsets") or []) != subsets or meta.labels_of(existing) != labels
