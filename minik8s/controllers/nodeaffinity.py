"""Node selection over plain dicts (Kubernetes' component-helpers `nodeaffinity`; pure):
node selector requirements and terms, a pod's nodeSelector plus required node affinity, a
volume's node affinity. (The scheduler keeps its own pre-parsed version for its hot loop.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minik8s.api import meta


def requirement_matches(req: Mapping[str, Any], value: str | None) -> bool:
    op, values = req.get("operator"), [str(v) for v in req.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, bound = int(value), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = meta.labels_of(node)
    if not all(requirement_matches(r, labels.get(r.get("key", ""))) for r in expressions):
        return False
    return all(
        r.get("key") == "metadata.name" and requirement_matches(r, meta.name_of(node))
        for r in fields
    )


def pod_matches_node(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """nodeSelector and required node affinity (Kubernetes' NodeAffinity filter)."""
    labels = meta.labels_of(node)
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if affinity is None:
        return True
    return any(term_matches(t, node) for t in affinity.get("nodeSelectorTerms") or [])


def volume_fits_node(pv: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A PersistentVolume's required node affinity admits the node (no affinity: any)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")) or None
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])
