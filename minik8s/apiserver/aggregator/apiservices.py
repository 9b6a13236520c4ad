"""APIService decisions (pure): the local APIServices of the served group versions, where an
APIService's backend is, and its Available condition."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from minik8s.api import meta, resources
from minik8s.api.meta import Object

AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
LOCAL_MESSAGE = "Local APIServices are always available"
PRIORITIES: dict[str, tuple[int, int]] = {
    "": (18000, 1),
    "apiregistration.k8s.io": (18000, 15),
    "apps": (17800, 15),
    "events.k8s.io": (17750, 15),
    "authentication.k8s.io": (17700, 15),
    "authorization.k8s.io": (17600, 15),
    "autoscaling": (17500, 15),
    "batch": (17400, 15),
    "certificates.k8s.io": (17300, 15),
    "networking.k8s.io": (17200, 15),
    "policy": (17100, 15),
    "rbac.authorization.k8s.io": (17000, 15),
    "storage.k8s.io": (16800, 15),
    "coordination.k8s.io": (16500, 15),
    "discovery.k8s.io": (16200, 15),
}
"""groupPriorityMinimum and versionPriority of the built-in groups (kube-apiserver's table);
autoscaling/v2 gets 30 so it is preferred over v1."""


def name_of(group: str, version: str) -> str:
    return f"{version}.{group}"


def local_apiservices() -> list[Object]:
    """One APIService per group version this apiserver serves itself (spec.service unset)."""
    out = []
    for group, version in resources.group_versions():
        group_priority, version_priority = PRIORITIES.get(group, (16000, 15))
        if (group, version) == ("autoscaling", "v2"):
            version_priority = 30
        out.append(
            {
                "apiVersion": resources.APISERVICES.api_version,
                "kind": resources.APISERVICES.kind,
                "metadata": {
                    "name": name_of(group, version),
                    "labels": {AUTOMANAGED: "onstart"},
                },
                "spec": {
                    "group": group,
                    "version": version,
                    "groupPriorityMinimum": group_priority,
                    "versionPriority": version_priority,
                },
            }
        )
    return out


@dataclass(frozen=True)
class Backend:
    """Where an aggregated group version is served."""

    host: str
    port: int
    server_name: str
    """The name its certificate must carry: `<service>.<namespace>.svc`."""
    ca_bundle: bytes | None
    insecure: bool


@dataclass(frozen=True)
class Availability:
    status: str
    reason: str
    message: str


def resolve(
    apiservice: Object,
    services: dict[str, Object],
    endpoints: dict[str, Object],
    loopback: frozenset[str] = frozenset(),
) -> Backend | Availability:
    """The backend of a service-backed APIService, or why there is none. `services` and
    `endpoints` are keyed `namespace/name`. A Service named in `loopback`
    (`--aggregator-loopback-services`, the operator's choice) is a process on this machine:
    127.0.0.1 at its port's numeric `targetPort`, as Kubernetes' loopback resolver maps its own
    `default/kubernetes` Service (Endpoints may not hold loopback addresses)."""
    reference = (apiservice.get("spec") or {}).get("service") or {}
    namespace, name = reference.get("namespace", ""), reference.get("name", "")
    port = int(reference.get("port") or 443)
    service = services.get(f"{namespace}/{name}")
    if service is None:
        return Availability(
            "False", "ServiceNotFound", f'service/{name} in "{namespace}" is not present'
        )
    ports = (service.get("spec") or {}).get("ports") or []
    service_port = next((p for p in ports if p.get("port") == port), None)
    if service_port is None:
        message = f'service/{name} in "{namespace}" is not listening on port {port}'
        return Availability("False", "ServicePortError", message)
    port_name = service_port.get("name") or ""
    spec = apiservice.get("spec") or {}
    bundle = spec.get("caBundle")
    if f"{namespace}/{name}" in loopback:
        target = service_port.get("targetPort")
        if isinstance(target, int) and 0 < target < 65536:
            return Backend(
                host="127.0.0.1",
                port=target,
                server_name=f"{name}.{namespace}.svc",
                ca_bundle=_decode(bundle) if bundle else None,
                insecure=bool(spec.get("insecureSkipTLSVerify")),
            )
        message = f'service/{name} in "{namespace}" has no numeric targetPort for port {port}'
        return Availability("False", "ServicePortError", message)
    for subset in (endpoints.get(f"{namespace}/{name}") or {}).get("subsets") or []:
        addresses = subset.get("addresses") or []
        for candidate in subset.get("ports") or []:
            if (candidate.get("name") or "") == port_name and addresses:
                return Backend(
                    host=addresses[0]["ip"],
                    port=int(candidate["port"]),
                    server_name=f"{name}.{namespace}.svc",
                    ca_bundle=_decode(bundle) if bundle else None,
                    insecure=bool(spec.get("insecureSkipTLSVerify")),
                )
    return Availability(
        "False",
        "MissingEndpoints",
        f'endpoints for service/{name} in "{namespace}" have no addresses with port name '
        f'"{port_name}"',
    )


def _decode(bundle: str) -> bytes:
    return base64.b64decode(bundle)


def with_condition(apiservice: Object, wanted: Availability, now: str) -> Object | None:
    """The APIService with its Available condition set; None when it already says so."""
    current = meta.get_condition(apiservice, "Available") or {}
    if (current.get("status"), current.get("reason"), current.get("message")) == (
        wanted.status,
        wanted.reason,
        wanted.message,
    ):
        return None
    condition = {
        "type": "Available",
        "status": wanted.status,
        "lastTransitionTime": now
        if current.get("status") != wanted.status
        else current.get("lastTransitionTime", now),
        "reason": wanted.reason,
        "message": wanted.message,
    }
    updated = dict(apiservice)
    status = dict(updated.get("status") or {})
    others = [c for c in status.get("conditions") or [] if c.get("type") != "Available"]
    status["conditions"] = [*others, condition]
    updated["status"] = status
    return updated


def is_local(apiservice: Object) -> bool:
    return not (apiservice.get("spec") or {}).get("service")
