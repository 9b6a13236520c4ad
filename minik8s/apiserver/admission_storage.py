"""Storage admission on create, as Kubernetes' DefaultStorageClass and
StorageObjectInUseProtection admission plugins do (pure over the object and the classes).

- A PersistentVolumeClaim that names no class (`storageClassName` absent or null, no beta
  annotation) gets the default StorageClass; an empty string keeps meaning "no class".
- Every claim gets the `kubernetes.io/pvc-protection` finalizer and every volume the
  `kubernetes.io/pv-protection` one: the protection controllers remove them once the claim is
  no longer used by a pod, or the volume no longer bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from minik8s.api import meta, storageutil
from minik8s.api.meta import Object
from minik8s.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, ResourceType


def admit_create(
    resource: ResourceType, obj: Object, classes: Callable[[], Iterable[Object]]
) -> None:
    """Mutate a new object of `resource` in place before validation (`classes` lists the
    StorageClasses, asked only for a claim)."""
    if resource is PERSISTENTVOLUMECLAIMS:
        spec = obj.get("spec")
        if isinstance(spec, dict) and storageutil.claim_class(obj) is None:
            default = storageutil.default_class(classes())
            if default is not None:
                spec["storageClassName"] = meta.name_of(default)
        _add_finalizer(obj, storageutil.PVC_PROTECTION)
    elif resource is PERSISTENTVOLUMES:
        _add_finalizer(obj, storageutil.PV_PROTECTION)


def _add_finalizer(obj: Object, finalizer: str) -> None:
    metadata = obj.setdefault("metadata", {})
    finalizers = list(metadata.get("finalizers") or [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)
    metadata["finalizers"] = finalizers
