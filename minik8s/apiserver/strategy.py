"""Per-kind rules applied to objects before they are stored (pure functions over dicts).

Like Kubernetes' `PrepareForCreate`/`PrepareForUpdate` strategies: the server owns uid,
creationTimestamp, generation and deletion fields; status is changed only through the status
subresource of kinds that have one; spec changes bump `metadata.generation`.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from minik8s.api import errors, secret, times
from minik8s.api.meta import Object
from minik8s.api.resources import NAMESPACES, PODS, SECRETS, ResourceType
from minik8s.apiserver import service_strategy

SERVER_OWNED_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
STATUS_RESET_ON_CREATE = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet",
                          "PersistentVolume", "PersistentVolumeClaim",
                          "ReplicationController", "Job", "CronJob",
                          "PodDisruptionBudget", "CertificateSigningRequest")  # fmt: skip
"""Kinds whose status a create may not set (defaulting then fills what they start with)."""
_GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


RETURNS_DELETED_OBJECT = frozenset(
    {
        ("", "Pod"), ("", "Service"), ("", "ServiceAccount"), ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"), ("", "PodTemplate"), ("", "ResourceQuota"),
        ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"), ("storage.k8s.io", "VolumeAttachment"),
    }
)  # fmt: skip
"""Kinds whose registry sets `ReturnDeletedObject`: a delete that completes answers with the
object; every other kind answers with a `Status` naming it (uid included)."""


def returns_deleted_object(resource: ResourceType) -> bool:
    return (resource.group, resource.kind) in RETURNS_DELETED_OBJECT


def has_status_subresource(resource: ResourceType) -> bool:
    return "status" in resource.subresources


def generate_name(prefix: str, rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return prefix + "".join(rng.choice(_GENERATE_NAME_ALPHABET) for _ in range(5))


def check_type(resource: ResourceType, obj: Any) -> Object:
    """The body must be an object of this kind and apiVersion (400 otherwise)."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the body of the request must be a {resource.kind} object")
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if kind is not None and kind != resource.kind:
        raise errors.BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})"
        )
    if api_version is not None and api_version != resource.api_version:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource.api_version})"
        )
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise errors.BadRequest("metadata must be an object")
    obj["apiVersion"] = resource.api_version
    obj["kind"] = resource.kind
    if metadata is None:  # absent, or JSON null
        obj["metadata"] = {}
    if resource is SECRETS:
        secret.convert_from_v1(obj)
    return obj


def check_namespace(resource: ResourceType, obj: Object, namespace: str | None) -> None:
    metadata = obj["metadata"]
    if not resource.namespaced:
        metadata.pop("namespace", None)
        return
    given = metadata.get("namespace")
    if given and namespace and given != namespace:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    metadata["namespace"] = given or namespace


def prepare_for_create(resource: ResourceType, obj: Object) -> None:
    metadata = obj["metadata"]
    if not metadata.get("name") and metadata.get("generateName"):
        metadata["name"] = generate_name(str(metadata["generateName"]))
    for field in (*SERVER_OWNED_METADATA, "resourceVersion", "selfLink", "managedFields"):
        metadata.pop(field, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = times.now_rfc3339()
    if "spec" in obj or resource.kind in ("Deployment", "ReplicaSet", "Pod", "Service"):
        metadata["generation"] = 1
    if resource is PODS:
        obj["status"] = {"phase": "Pending"}
    elif resource is NAMESPACES:
        obj["status"] = {"phase": "Active"}
    elif resource.kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    elif resource.kind in STATUS_RESET_ON_CREATE:
        obj["status"] = {}


def prepare_for_update(resource: ResourceType, new: Object, old: Object) -> None:
    """An update of the main resource: server-owned fields and status come from `old`."""
    metadata = new.setdefault("metadata", {})
    old_metadata = old.get("metadata", {})
    for field in SERVER_OWNED_METADATA:
        if field in old_metadata:
            metadata[field] = old_metadata[field]
        else:
            metadata.pop(field, None)
    metadata.pop("managedFields", None)
    if has_status_subresource(resource):
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if resource.kind == "Service":
        service_strategy.drop_type_dependent_fields(new, old)
    if resource.kind == "Pod":  # changed only through pods/<name>/ephemeralcontainers
        ephemeral = (old.get("spec") or {}).get("ephemeralContainers")
        spec = new.get("spec")
        if isinstance(spec, dict):
            if ephemeral:
                spec["ephemeralContainers"] = ephemeral
            else:
                spec.pop("ephemeralContainers", None)
    if new.get("spec") != old.get("spec") and "generation" in old_metadata:
        metadata["generation"] = int(old_metadata["generation"]) + 1


def prepare_for_status_update(new: Object, old: Object) -> Object:
    """An update of the status subresource: only `status` changes."""
    result = dict(old)
    result["status"] = new.get("status", {})
    result["metadata"] = dict(old.get("metadata", {}))
    return result


def prepare_for_ephemeral_containers_update(new: Object, old: Object) -> Object:
    """`pods/{name}/ephemeralcontainers`: only spec.ephemeralContainers changes."""
    result = dict(old)
    spec = dict(old.get("spec") or {})
    spec["ephemeralContainers"] = list((new.get("spec") or {}).get("ephemeralContainers") or [])
    result["spec"] = spec
    result["metadata"] = dict(old.get("metadata", {}))
    return result


def prepare_for_finalize(new: Object, old: Object) -> Object:
    """`namespaces/{name}/finalize`: only spec.finalizers changes."""
    result = dict(old)
    spec = dict(old.get("spec") or {})
    spec["finalizers"] = list((new.get("spec") or {}).get("finalizers") or [])
    result["spec"] = spec
    return result


def should_delete_now(resource: ResourceType, obj: Object) -> bool:
    """After an update: a terminating object whose finalizers are all gone is removed."""
    metadata = obj.get("metadata", {})
    if not metadata.get("deletionTimestamp") or metadata.get("finalizers"):
        return False
    if resource is NAMESPACES:
        return not (obj.get("spec") or {}).get("finalizers")
    return not metadata.get("deletionGracePeriodSeconds")


def delete_grace_period(resource: ResourceType, obj: Object, requested: int | None) -> int:
    """Seconds a deletion waits (pods only): 0 deletes at once."""
    if resource is not PODS:
        return 0
    spec = obj.get("spec") or {}
    if not spec.get("nodeName"):
        return 0  # never scheduled: no kubelet to wait for
    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    value = spec.get("terminationGracePeriodSeconds")
    return 30 if value is None else max(0, int(value))


def mark_terminating(obj: Object, grace_seconds: int, finalizers_to_add: list[str]) -> bool:
    """Set the deletion fields; False when nothing changes (already terminating sooner)."""
    metadata = obj["metadata"]
    before = list(metadata.get("finalizers") or [])
    finalizers = before + [f for f in finalizers_to_add if f not in before]
    if finalizers:
        metadata["finalizers"] = finalizers
    existing = metadata.get("deletionGracePeriodSeconds")
    if metadata.get("deletionTimestamp") and existing is not None and grace_seconds >= existing:
        return finalizers != before
    metadata["deletionTimestamp"] = deletion_deadline(grace_seconds)
    metadata["deletionGracePeriodSeconds"] = grace_seconds
    return True


def deletion_deadline(grace_seconds: int) -> str:
    """Now plus `grace_seconds` (any int64), as an RFC 3339 time; a grace period that ends
    after year 9999 ends at its last second."""
    return times.format_time(times.add_seconds(times.utc_now(), grace_seconds))
