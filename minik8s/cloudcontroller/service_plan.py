"""The service controller's decisions (pure), as Kubernetes' service controller makes them.

A Service wants a load balancer from us when it is `type: LoadBalancer` without a
`loadBalancerClass` (or with ours, `--load-balancer-class`); Services of another class belong to
another implementation and are left alone. A Service holding the cleanup finalizer needs
cleanup when it is being deleted or no longer a LoadBalancer.
"""

from __future__ import annotations

from typing import Any

from minik8s.api import meta, serviceutil
from minik8s.api.meta import Object

FINALIZER = serviceutil.LOAD_BALANCER_CLEANUP_FINALIZER
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"


def _spec(obj: Object) -> dict[str, Any]:
    return obj.get("spec") or {}


def wants_load_balancer(service: Object, lb_class: str = "") -> bool:
    spec = _spec(service)
    if spec.get("type") != "LoadBalancer":
        return False
    service_class = spec.get("loadBalancerClass")
    return not service_class or (bool(lb_class) and service_class == lb_class)


def has_finalizer(service: Object) -> bool:
    return FINALIZER in meta.finalizers_of(service)


def needs_cleanup(service: Object) -> bool:
    if not has_finalizer(service):
        return False
    return meta.is_deleting(service) or _spec(service).get("type") != "LoadBalancer"


def ours(service: Object, lb_class: str = "") -> bool:
    """Worth a sync: it wants a load balancer from us, or has one to clean up."""
    return wants_load_balancer(service, lb_class) or needs_cleanup(service)


_LB_FIELDS = ("loadBalancerSourceRanges", "sessionAffinity", "sessionAffinityConfig",
              "loadBalancerIP", "externalIPs", "externalTrafficPolicy", "healthCheckNodePort",
              "ipFamilies")  # fmt: skip


def _ports(service: Object) -> list[tuple[Any, ...]]:
    return [(p.get("name"), p.get("protocol"), p.get("port"), p.get("nodePort"))
            for p in _spec(service).get("ports") or []]  # fmt: skip


def needs_update(old: Object, new: Object, lb_class: str = "") -> bool:
    """Kubernetes' needsUpdate: what a load balancer depends on changed."""
    old_wants, new_wants = wants_load_balancer(old, lb_class), wants_load_balancer(new, lb_class)
    if not old_wants and not new_wants:
        return False
    if old_wants != new_wants or meta.uid_of(old) != meta.uid_of(new):
        return True
    old_spec, new_spec = _spec(old), _spec(new)
    if any(old_spec.get(f) != new_spec.get(f) for f in _LB_FIELDS):
        return True
    return _ports(old) != _ports(new) or meta.annotations_of(old) != meta.annotations_of(new)


def load_balancer_status(service: Object) -> dict[str, Any]:
    return dict((service.get("status") or {}).get("loadBalancer") or {})


def status_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("ingress") or []) == (b.get("ingress") or [])


def is_pending(service: Object, lb_class: str = "") -> bool:
    """Wants a load balancer and has no address yet."""
    return (
        wants_load_balancer(service, lb_class)
        and not meta.is_deleting(service)
        and not load_balancer_status(service).get("ingress")
    )


def status_patch(status: dict[str, Any]) -> dict[str, Any]:
    """A merge patch setting `status.loadBalancer` (null removes the ingress)."""
    return {"status": {"loadBalancer": {"ingress": status.get("ingress") or None}}}


def finalizers_patch(service: Object, finalizers: list[str]) -> dict[str, Any]:
    """A merge patch of the finalizers, conditional on the resourceVersion read."""
    version = meta.resource_version_of(service)
    return {"metadata": {"finalizers": finalizers or None, "resourceVersion": version or None}}


# --- nodes ---------------------------------------------------------------------------------


def node_ready(node: Object) -> bool:
    return meta.condition_is_true(node, "Ready")


def eligible_node(node: Object) -> bool:
    """Kubernetes' stableNodeSetPredicates: not being deleted, not excluded by label, not
    about to be removed by an autoscaler."""
    if meta.is_deleting(node):
        return False
    excluded = meta.labels_of(node).get(EXCLUDE_LABEL)
    if excluded is not None and excluded.lower() not in ("false", "0", "f"):
        return False
    return not any(t.get("key") == TO_BE_DELETED_TAINT for t in _spec(node).get("taints") or [])


def node_signature(node: Object) -> tuple[Any, ...]:
    """What the set of load balancer backends depends on."""
    addresses = sorted(str(a) for a in (node.get("status") or {}).get("addresses") or [])
    return (eligible_node(node), node_ready(node), _spec(node).get("providerID"), *addresses)
