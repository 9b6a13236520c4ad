"""The object vocabulary every component shares: API objects as plain dicts (pure).

Kubernetes' `metav1.Object` accessors, owner and controller references
(`metav1.IsControlledBy`, `NewControllerRef`) and conditions (`meta.SetStatusCondition`),
written once. Objects are the decoded JSON: `dict[str, Any]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from minik8s.api import times

if TYPE_CHECKING:
    from minik8s.api.resources import ResourceType

Object = dict[str, Any]
"""An API object as decoded JSON: `{"apiVersion", "kind", "metadata", "spec", "status"}`."""


# --- metadata accessors -----------------------------------------------------------------------


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's metadata (an empty dict when absent: never None)."""
    return obj.get("metadata") or {}


def spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's spec (an empty dict when absent)."""
    return obj.get("spec") or {}


def status_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object's status (an empty dict when absent)."""
    return obj.get("status") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def generation_of(obj: Mapping[str, Any]) -> int:
    return int(meta(obj).get("generation") or 0)


def ns_name(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (or `name` for cluster-scoped objects): the key logs and queues use."""
    ns = namespace_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """A copy of the labels (empty when none)."""
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """A copy of the annotations (empty when none)."""
    return dict(meta(obj).get("annotations") or {})


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    return list(meta(obj).get("finalizers") or [])


def is_deleting(obj: Mapping[str, Any]) -> bool:
    """Whether a deletion has begun (`metadata.deletionTimestamp` is set)."""
    return bool(meta(obj).get("deletionTimestamp"))


def creation_time(obj: Mapping[str, Any]) -> datetime:
    """`creationTimestamp`, or the oldest time when absent (sorts first)."""
    return times.parse_time(meta(obj).get("creationTimestamp")) or times.EPOCH


def deletion_time(obj: Mapping[str, Any]) -> datetime | None:
    return times.parse_time(meta(obj).get("deletionTimestamp"))


# --- owner and controller references ---------------------------------------------------------


def owner_references(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in meta(obj).get("ownerReferences") or [] if isinstance(r, Mapping)]


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The owner reference with `controller: true`, if any (`metav1.GetControllerOf`)."""
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller"):
            return dict(ref)
    return None


def owner_uids(obj: Mapping[str, Any]) -> list[str]:
    """The uids of the object's owners (an informer index: no copies)."""
    refs = meta(obj).get("ownerReferences") or []
    return [str(r["uid"]) for r in refs if isinstance(r, Mapping) and r.get("uid")]


def find_owner(obj: Mapping[str, Any], uid: str) -> dict[str, Any] | None:
    """The owner reference to the object with this uid, if any."""
    for ref in owner_references(obj):
        if ref.get("uid") == uid:
            return ref
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether `owner` is `obj`'s controller (`metav1.IsControlledBy`: compared by uid)."""
    ref = controller_ref(obj)
    return ref is not None and bool(ref.get("uid")) and ref.get("uid") == uid_of(owner)


def owner_reference(
    rt: ResourceType,
    owner: Mapping[str, Any],
    *,
    controller: bool = True,
    block_owner_deletion: bool = True,
) -> dict[str, Any]:
    """A reference to `owner` (`metav1.NewControllerRef` by default: controller, blocking)."""
    ref: dict[str, Any] = {
        "apiVersion": rt.api_version,
        "kind": rt.kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
    }
    if controller:
        ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    return ref


def set_owner_reference(obj: Object, ref: Mapping[str, Any]) -> None:
    """Add `ref` to the object's owners, replacing one to the same uid."""
    metadata = obj.setdefault("metadata", {})
    refs = [r for r in metadata.get("ownerReferences") or [] if r.get("uid") != ref.get("uid")]
    refs.append(dict(ref))
    metadata["ownerReferences"] = refs


def remove_owner_reference(obj: Object, uid: str) -> bool:
    """Drop the reference to `uid`; whether one was there."""
    metadata = obj.get("metadata") or {}
    refs = metadata.get("ownerReferences") or []
    kept = [r for r in refs if r.get("uid") != uid]
    if len(kept) == len(refs):
        return False
    if kept:
        metadata["ownerReferences"] = kept
    else:
        metadata.pop("ownerReferences", None)
    return True


# --- conditions -------------------------------------------------------------------------------


def conditions_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]


def find_condition(conditions: Iterable[Any] | None, type_: str) -> dict[str, Any] | None:
    """A copy of the condition of this type in a `status.conditions` list, if any."""
    for condition in conditions or ():
        if isinstance(condition, Mapping) and condition.get("type") == type_:
            return dict(condition)
    return None


def get_condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    """A copy of the object's status condition of this type, if any."""
    return find_condition(status_of(obj).get("conditions"), type_)


def condition_is_true(obj: Mapping[str, Any], type_: str) -> bool:
    condition = get_condition(obj, type_)
    return condition is not None and condition.get("status") == "True"


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str = "",
    message: str = "",
    now: str | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """A new list with the condition set (`meta.SetStatusCondition`).

    `lastTransitionTime` changes only when the status changes; reason, message and `extra`
    (e.g. `lastProbeTime`, `lastUpdateTime`, `observedGeneration`) always take the new values.
    """
    stamp = now or times.now_rfc3339()
    result: list[dict[str, Any]] = []
    found = False
    for condition in conditions:
        if condition.get("type") != type_:
            result.append(condition)
            continue
        found = True
        updated = dict(condition)
        if updated.get("status") != status:
            updated["lastTransitionTime"] = stamp
        updated["status"] = status
        _set_texts(updated, reason, message, extra)
        result.append(updated)
    if not found:
        new: dict[str, Any] = {"type": type_, "status": status, "lastTransitionTime": stamp}
        _set_texts(new, reason, message, extra)
        result.append(new)
    return result


def _set_texts(condition: dict[str, Any], reason: str, message: str, extra: Mapping) -> None:
    for key, value in (("reason", reason), ("message", message)):
        if value:
            condition[key] = value
        else:
            condition.pop(key, None)
    condition.update(extra)


def remove_condition(conditions: Iterable[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c.get("type") != type_]
