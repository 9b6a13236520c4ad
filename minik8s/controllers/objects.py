"""Pure helpers over API objects as plain dicts: owner references, pod readiness, times."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from minik8s.api.resources import ResourceType

Object = dict[str, Any]

OWNER_INDEX = "owner-uid"
"""Informer index: the uids of an object's owners."""
CONTROLLER_INDEX = "controller-uid"
"""Informer index: the uid of an object's controlling owner."""
UID_INDEX = "uid"
"""Informer index: the object's own uid."""
NODE_INDEX = "node-name"
"""Pod informer index: `spec.nodeName`."""


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def ns_name(obj: Mapping[str, Any]) -> str:
    """`namespace/name` for logs."""
    ns = namespace_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The owner reference with `controller: true`, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_uids(obj: dict) -> list[str]:
    return [str(r["uid"]) for r in meta(obj).get("ownerReferences") or [] if r.get("uid")]


def controller_uid(obj: dict) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def own_uid(obj: dict) -> list[str]:
    uid = meta(obj).get("uid")
    return [str(uid)] if uid else []


def node_name(obj: dict) -> list[str]:
    name = (obj.get("spec") or {}).get("nodeName")
    return [str(name)] if name else []


def owner_reference(rt: ResourceType, owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to `owner`, blocking its foreground deletion."""
    return {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


# --- pods ------------------------------------------------------------------------------------


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_is_active(pod: Mapping[str, Any]) -> bool:
    """Counts towards a controller's replicas: not finished and not being deleted."""
    return pod_phase(pod) not in ("Succeeded", "Failed") and not is_deleting(pod)


def pod_condition(pod: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return dict(condition)
    return None


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    condition = pod_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def pod_ready_since(pod: Mapping[str, Any]) -> datetime | None:
    condition = pod_condition(pod, "Ready")
    if condition is None or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime"))


def pod_is_available(pod: Mapping[str, Any], min_ready_seconds: float, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (Kubernetes' IsPodAvailable)."""
    if not pod_is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def restart_count(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


# --- time ------------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp (`...Z`, optionally with fractions); None if absent or invalid."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def creation_time(obj: Mapping[str, Any]) -> datetime:
    return parse_time(meta(obj).get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)
