"""What every component asks of storage objects (Kubernetes' `storage/util` and
`volume/util` helpers; pure): default StorageClass, claim/volume matching, finalizers and the
annotations the scheduler, the volume controllers and the provisioner share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from minik8s.api import meta, quantity, selectors

IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
"""The pre-1.6 way to name a claim's class (still honoured by Kubernetes)."""
SELECTED_NODE = "volume.kubernetes.io/selected-node"
"""Set on a WaitForFirstConsumer claim by the scheduler: the node its first pod goes to."""
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
ACCESS_MODE_SHORT = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                     "ReadWriteOncePod": "RWOP"}  # fmt: skip


def is_default_class(sc: Mapping[str, Any]) -> bool:
    annotations = meta.annotations_of(sc)
    return "true" in (annotations.get(IS_DEFAULT_CLASS), annotations.get(BETA_IS_DEFAULT_CLASS))


def default_class(classes: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The default StorageClass: of several marked default, the newest (then by name)."""
    defaults = [sc for sc in classes if is_default_class(sc)]
    if not defaults:
        return None
    return max(defaults, key=lambda sc: (meta.creation_time(sc), meta.name_of(sc)))


def claim_class(pvc: Mapping[str, Any]) -> str | None:
    """The claim's StorageClass name: the beta annotation first, then the spec (None: unset)."""
    annotated = meta.annotations_of(pvc).get(BETA_STORAGE_CLASS)
    if annotated is not None:
        return annotated
    value = (pvc.get("spec") or {}).get("storageClassName")
    return None if value is None else str(value)


def volume_class(pv: Mapping[str, Any]) -> str:
    annotated = meta.annotations_of(pv).get(BETA_STORAGE_CLASS)
    if annotated is not None:
        return annotated
    return str((pv.get("spec") or {}).get("storageClassName") or "")


def requested_bytes(pvc: Mapping[str, Any]) -> int:
    requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return _bytes(requests.get("storage"))


def capacity_bytes(pv: Mapping[str, Any]) -> int:
    return _bytes(((pv.get("spec") or {}).get("capacity") or {}).get("storage"))


def _bytes(value: Any) -> int:
    if value is None:
        return 0
    try:
        return int(quantity.parse_quantity(value))
    except ValueError:
        return 0


def access_modes(obj: Mapping[str, Any]) -> list[str]:
    return [str(m) for m in (obj.get("spec") or {}).get("accessModes") or []]


def short_access_modes(modes: Iterable[str]) -> str:
    """kubectl's ACCESS MODES cell: `RWO,ROX` in Kubernetes' fixed order."""
    wanted = set(modes)
    return ",".join(short for mode, short in ACCESS_MODE_SHORT.items() if mode in wanted)


def claim_ref_matches(pv: Mapping[str, Any], pvc: Mapping[str, Any]) -> bool:
    """Whether the volume's claimRef names this claim (and its uid, when the ref has one)."""
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if ref.get("name") != meta.name_of(pvc) or ref.get("namespace") != meta.namespace_of(pvc):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.uid_of(pvc)


def claim_names(pod: Mapping[str, Any]) -> list[str]:
    """The PersistentVolumeClaims a pod's volumes use, in order."""
    names = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = (volume or {}).get("persistentVolumeClaim") or {}
        if claim.get("claimName"):
            names.append(str(claim["claimName"]))
    return names


def claim_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def _volume_mode(obj: Mapping[str, Any]) -> str:
    return str((obj.get("spec") or {}).get("volumeMode") or "Filesystem")


def volume_fits(
    pv: Mapping[str, Any],
    claim: Mapping[str, Any],
    node_fits: Callable[[Mapping[str, Any]], bool] | None = None,
) -> bool:
    """Whether `pv` may be bound to `claim` (ignoring who else wants it)."""
    if meta.is_deleting(pv):
        return False
    ref = (pv.get("spec") or {}).get("claimRef")
    if ref and not claim_ref_matches(pv, claim):
        return False
    phase = (pv.get("status") or {}).get("phase")
    if not ref and phase not in (None, "", "Available", "Pending"):
        return False
    if volume_class(pv) != (claim_class(claim) or ""):
        return False
    if _volume_mode(pv) != _volume_mode(claim):
        return False
    if not set(access_modes(claim)) <= set(access_modes(pv)):
        return False
    if capacity_bytes(pv) < requested_bytes(claim):
        return False
    selector = (claim.get("spec") or {}).get("selector")
    if selector:
        try:
            if not selectors.label_selector_from_object(selector).matches(meta.labels_of(pv)):
                return False
        except selectors.InvalidSelector:
            return False
    return node_fits is None or node_fits(pv)
