"""Service environment variables of a container, as Kubernetes' kubelet makes them (pure).

Every container sees the `kubernetes` Service of `default`; with `enableServiceLinks` (the
default) also every Service of its own namespace that has a ClusterIP (one of that namespace
named `kubernetes` wins). For a Service `web-api` at 10.96.3.4 with ports `http` 80/TCP:

    WEB_API_SERVICE_HOST=10.96.3.4        WEB_API_PORT=tcp://10.96.3.4:80
    WEB_API_SERVICE_PORT=80               WEB_API_PORT_80_TCP=tcp://10.96.3.4:80
    WEB_API_SERVICE_PORT_HTTP=80          WEB_API_PORT_80_TCP_PROTO=tcp
                                          WEB_API_PORT_80_TCP_PORT=80
                                          WEB_API_PORT_80_TCP_ADDR=10.96.3.4

The container's own `env` comes after and wins (and may refer to these with `$(VAR)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASTER_NAMESPACE = "default"
MASTER_SERVICES = ("kubernetes",)


def has_cluster_ip(service: dict[str, Any]) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def service_env(
    services: Iterable[dict[str, Any]], namespace: str, enable_service_links: bool
) -> dict[str, str]:
    """The variables of the Services a container in `namespace` sees."""
    chosen: dict[str, dict[str, Any]] = {}
    for service in services:
        if not has_cluster_ip(service):
            continue
        meta = service.get("metadata") or {}
        name, service_ns = str(meta.get("name") or ""), str(meta.get("namespace") or "")
        if service_ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        if service_ns == namespace and enable_service_links:
            chosen[name] = service
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(from_service(chosen[name]))
    return env


def from_service(service: dict[str, Any]) -> dict[str, str]:
    """Kubernetes' envvars.FromServices for one Service."""
    spec = service.get("spec") or {}
    prefix = _env_name(str((service.get("metadata") or {}).get("name") or ""))
    ip = str(spec.get("clusterIP"))
    ports = spec.get("ports") or []
    env: dict[str, str] = {f"{prefix}_SERVICE_HOST": ip}
    if ports:
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
    for port in ports:
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{_env_name(str(port['name']))}"] = str(port.get("port"))
    for i, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        number = str(port.get("port"))
        url = f"{protocol.lower()}://{ip}:{number}"
        if i == 0:
            env[f"{prefix}_PORT"] = url
        link = f"{prefix}_PORT_{number}_{protocol.upper()}"
        env[link] = url
        env[f"{link}_PROTO"] = protocol.lower()
        env[f"{link}_PORT"] = number
        env[f"{link}_ADDR"] = ip
    return env


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def compact_service(obj: dict[str, Any]) -> dict[str, Any]:
    """What the kubelet's Service informer keeps (client-go's informer transform)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta},
        "spec": {
            "clusterIP": spec.get("clusterIP"),
            "ports": [
                {k: p[k] for k in ("name", "port", "protocol") if k in p}
                for p in spec.get("ports") or []
            ],
        },
    }
