"""What an update of a Service drops when its type or traffic policy changes (pure).

Kubernetes' `dropTypeDependentFields`: a field is wiped only when it no longer applies, the
apiserver may have set it itself, and the update did not change it too (a changed value is the
user's, and validation judges it). The LoadBalancer status goes with the LoadBalancer type.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.meta import Object
from minik8s.api.serviceutil import EXTERNAL_TYPES, needs_health_check


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def drop_type_dependent_fields(new: Object, old: Object) -> None:
    spec, old_spec = _spec(new), _spec(old)
    if not isinstance(new.get("spec"), dict):
        return
    old_type, new_type = old_spec.get("type") or "ClusterIP", spec.get("type") or "ClusterIP"
    if old_type in EXTERNAL_TYPES and new_type not in EXTERNAL_TYPES:
        old_ports = [p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)]
        new_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        if [p.get("nodePort") for p in new_ports] == old_ports:
            for port in new_ports:
                port.pop("nodePort", None)
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)
    if (
        needs_health_check(old_spec)
        and not needs_health_check(spec)
        and spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort")
    ):
        spec.pop("healthCheckNodePort", None)
    if old_type == "LoadBalancer" and new_type != "LoadBalancer":
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if field in spec and spec.get(field) == old_spec.get(field):
                spec.pop(field)
    if new_type != "LoadBalancer" and isinstance(new.get("status"), dict):
        new["status"] = {**new["status"], "loadBalancer": {}}
