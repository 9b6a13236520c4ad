"""Kubernetes' defaulting: fill the fields a user may omit, in place, on the stored dict.

Only absent fields are filled; what the user wrote is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import quantity
from minik8s.api import resources as rt

DEFAULT_PERCENT = "25%"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
VOLUME_SOURCES = ("hostPath", "emptyDir", "secret", "persistentVolumeClaim", "downwardAPI",
                  "configMap", "projected", "nfs", "csi", "ephemeral")  # fmt: skip
"""The volume sources Kubernetes knows, in the order its validation checks them."""


def apply_defaults(resource: rt.ResourceType, obj: dict[str, Any]) -> None:
    """Default `obj`, an object of type `resource`, the way the Kubernetes apiserver does."""
    defaulter = _DEFAULTERS.get(resource.kind) or _more_defaulters().get(resource.kind)
    if defaulter is not None:
        defaulter(obj)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Defaults of a PodSpec, shared by Pods and the templates of ReplicaSets and Deployments."""
    _default(spec, "restartPolicy", "Always")
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    _default(spec, "securityContext", {})
    _default(spec, "enableServiceLinks", True)
    host_network = bool(spec.get("hostNetwork"))
    for container in [
        *_items(spec, "initContainers"),
        *_items(spec, "containers"),
        *_items(spec, "ephemeralContainers"),
    ]:
        _default_container(container, host_network)
    for volume in _items(spec, "volumes"):
        _default_volume(volume)


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's QoS class (Guaranteed, Burstable or BestEffort) from its cpu/memory resources."""
    containers = [*_items(spec, "initContainers"), *_items(spec, "containers")]
    requests: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for container in containers:
        resources = container.get("resources") or {}
        requests.append(_compute_resources(resources.get("requests")))
        limits.append(_compute_resources(resources.get("limits")))
    if not any(requests) and not any(limits):
        return "BestEffort"
    for container_requests, container_limits in zip(requests, limits, strict=True):
        if set(container_limits) != {"cpu", "memory"}:
            return "Burstable"
        for name, limit in container_limits.items():
            request = container_requests.get(name, limit)
            if _parsed(request) != _parsed(limit):
                return "Burstable"
    return "Guaranteed"


def _default_pod(pod: dict[str, Any]) -> None:
    spec = _ensure_dict(pod, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    _default(spec, "priority", 0)
    if not pod.get("status"):
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}


def _default_container(container: dict[str, Any], host_network: bool) -> None:
    _default(container, "imagePullPolicy", _pull_policy(str(container.get("image") or "")))
    _default(container, "terminationMessagePath", "/dev/termination-log")
    _default(container, "terminationMessagePolicy", "File")
    resources = _ensure_dict(container, "resources")
    if resources is not None:
        _copy_limits_to_requests(resources)
    for port in _items(container, "ports"):
        _default(port, "protocol", "TCP")
        if host_network and "containerPort" in port:
            _default(port, "hostPort", port["containerPort"])
    for probe_field in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_field)
        if isinstance(probe, dict):
            _default_probe(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            http_get = handler.get("httpGet") if isinstance(handler, dict) else None
            if isinstance(http_get, dict):
                _default_http_get(http_get)
    for env in _items(container, "env"):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            _default(field_ref, "apiVersion", "v1")


def _pull_policy(image: str) -> str:
    """Always for `:latest` or no tag, IfNotPresent for a pinned tag or a digest."""
    if "@" in image:
        return "IfNotPresent"
    last_segment = image.rsplit("/", 1)[-1]
    if ":" not in last_segment:
        return "Always"
    return "Always" if last_segment.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _copy_limits_to_requests(resources: dict[str, Any]) -> None:
    """A limit without a request makes the request equal to the limit."""
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = _ensure_dict(resources, "requests")
    if requests is not None:
        for name, limit in limits.items():
            _default(requests, name, limit)


def _default_probe(probe: dict[str, Any]) -> None:
    _default(probe, "timeoutSeconds", 1)
    _default(probe, "periodSeconds", 10)
    _default(probe, "successThreshold", 1)
    _default(probe, "failureThreshold", 3)
    http_get = probe.get("httpGet")
    if isinstance(http_get, dict):
        _default_http_get(http_get)


def _default_http_get(http_get: dict[str, Any]) -> None:
    _default(http_get, "path", "/")
    _default(http_get, "scheme", "HTTP")


def _default_volume(volume: dict[str, Any]) -> None:
    if not any(volume.get(source) is not None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("configMap", "secret", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict):
            _default(volume[source], "defaultMode", 0o644)
    for projection in _items(volume.get("projected") or {}, "sources"):
        token = projection.get("serviceAccountToken")
        if isinstance(token, dict):
            _default(token, "expirationSeconds", 3600)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        _default(host_path, "type", "")


def _default_service(service: dict[str, Any]) -> None:
    spec = _ensure_dict(service, "spec")
    if spec is None:
        return
    _default(spec, "type", "ClusterIP")
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = _ensure_dict(spec, "sessionAffinityConfig")
        client_ip = _ensure_dict(config, "clientIP") if config is not None else None
        if client_ip is not None:
            _default(client_ip, "timeoutSeconds", 10800)
    for port in _items(spec, "ports"):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]
    if spec["type"] == "ExternalName":
        return
    _default(spec, "internalTrafficPolicy", "Cluster")
    _default(spec, "ipFamilies", ["IPv4"])
    _default(spec, "ipFamilyPolicy", "SingleStack")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True)
    load_balancer = (service.get("status") or {}).get("loadBalancer")
    for ingress in _items(load_balancer, "ingress") if isinstance(load_balancer, dict) else ():
        if ingress.get("ip"):
            _default(ingress, "ipMode", "VIP")


def _default_endpoints(endpoints: dict[str, Any]) -> None:
    for subset in _items(endpoints, "subsets"):
        for port in _items(subset, "ports"):
            _default(port, "protocol", "TCP")


def _default_endpoint_slice(slice_: dict[str, Any]) -> None:
    """discovery/v1 defaults: an EndpointPort's protocol is TCP (its name "")."""
    for port in _items(slice_, "ports"):
        _default(port, "protocol", "TCP")


def _default_deployment(deployment: dict[str, Any]) -> None:
    spec = _ensure_dict(deployment, "spec")
    if spec is None:
        return
    _default(spec, "replicas", 1)
    _default_strategy(
        spec, "strategy", {"maxUnavailable": DEFAULT_PERCENT, "maxSurge": DEFAULT_PERCENT}
    )
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    _default_template(spec)


def _default_replica_set(replica_set: dict[str, Any]) -> None:
    spec = _ensure_dict(replica_set, "spec")
    if spec is not None:
        _default(spec, "replicas", 1)
        _default_template(spec)


def _default_strategy(spec: dict[str, Any], field: str, rolling: dict[str, Any]) -> None:
    """`spec[field]` (a Deployment's `strategy`, a DaemonSet's or StatefulSet's
    `updateStrategy`): of type RollingUpdate unless set; a RollingUpdate one's `rollingUpdate`
    gets the `rolling` defaults."""
    strategy = _ensure_dict(spec, field)
    if strategy is None:
        return
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] != "RollingUpdate":
        return
    rolling_update = _ensure_dict(strategy, "rollingUpdate")
    if rolling_update is not None:
        for key, value in rolling.items():
            _default(rolling_update, key, value)


def _default_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def _default_namespace(namespace: dict[str, Any]) -> None:
    metadata = _ensure_dict(namespace, "metadata")
    if metadata is not None and isinstance(metadata.get("name"), str):
        labels = _ensure_dict(metadata, "labels")
        if labels is not None:
            labels[NAMESPACE_NAME_LABEL] = metadata["name"]
    spec = _ensure_dict(namespace, "spec")
    if spec is not None:
        _default(spec, "finalizers", ["kubernetes"])
    status = _ensure_dict(namespace, "status")
    if status is not None:
        _default(status, "phase", "Active")


def _default_node(node: dict[str, Any]) -> None:
    _ensure_dict(node, "spec")
    status = node.get("status")
    if isinstance(status, dict) and status.get("capacity") and not status.get("allocatable"):
        status["allocatable"] = dict(status["capacity"])


def _default_secret(secret: dict[str, Any]) -> None:
    _default(secret, "type", "Opaque")


def _default_binding(binding: dict[str, Any]) -> None:
    """A User or Group subject's apiGroup is `rbac.authorization.k8s.io`."""
    for subject in _items(binding, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            _default(subject, "apiGroup", rt.RBAC_GROUP)


def _default(obj: dict[str, Any], field: str, value: Any) -> None:
    """Set `obj[field]` when it is absent or null (Kubernetes treats null as unset)."""
    if obj.get(field) is None:
        obj[field] = value


def _ensure_dict(parent: dict[str, Any], field: str) -> dict[str, Any] | None:
    """`parent[field]`, created empty when absent or null; None when it is not an object."""
    if parent.get(field) is None:
        parent[field] = {}
    value = parent[field]
    return value if isinstance(value, dict) else None


def _items(obj: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """The dict entries of the list `obj[field]`, tolerating absent or malformed lists."""
    value = obj.get(field)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _compute_resources(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        return {}
    return {name: v for name, v in values.items() if name in ("cpu", "memory") and _parsed(v) != 0}


def _parsed(value: Any) -> Any:
    try:
        return quantity.parse_quantity(value)
    except ValueError:
        return value


default = _default
ensure_dict = _ensure_dict
items = _items
default_template = _default_template
default_strategy = _default_strategy
"""The helpers other defaulting modules share (`defaults_workloads`)."""

_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    rt.PODS.kind: _default_pod,
    rt.SERVICES.kind: _default_service,
    rt.ENDPOINTS.kind: _default_endpoints,
    rt.ENDPOINTSLICES.kind: _default_endpoint_slice,
    rt.DEPLOYMENTS.kind: _default_deployment,
    rt.REPLICASETS.kind: _default_replica_set,
    rt.NAMESPACES.kind: _default_namespace,
    rt.NODES.kind: _default_node,
    rt.SECRETS.kind: _default_secret,
    rt.ROLEBINDINGS.kind: _default_binding,
    rt.CLUSTERROLEBINDINGS.kind: _default_binding,
}


def _more_defaulters() -> dict[str, Callable[[dict[str, Any]], None]]:
    """Defaulters of the kinds kept in modules of their own (imported late: they use ours)."""
    from minik8s.api import defaults_autoscaling, defaults_batch, defaults_workloads

    return {
        **defaults_workloads.DEFAULTERS,
        **defaults_batch.DEFAULTERS,
        **defaults_autoscaling.DEFAULTERS,
    }
