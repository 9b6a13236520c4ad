"""The PersistentVolume controller's decisions, pure (Kubernetes' `volume/persistentvolume`
binder): which volume a claim gets, what a claim waits for, and each volume's phase.

A claim is matched to the smallest available volume of its class that has every access mode
it asks for, at least the storage it requests, its volume mode, and the labels of its
selector; a volume pre-bound to it (`claimRef`) or named by it (`volumeName`) wins. Claims of
a WaitForFirstConsumer class wait for the scheduler's `selected-node` annotation and then
only take volumes reachable from that node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api import meta, storageutil
from minik8s.api.meta import Object

NO_CLASS = "no persistent volumes available for this claim and no storage class is set"
WAIT_FOR_CONSUMER = "waiting for first consumer to be created before binding"
CLAIM_LOST = "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
LOST_CLAIM_VOLUME = "Volume has lost its claim"


def external_provisioning(provisioner: str) -> str:
    return (
        f"Waiting for a volume to be created either by the external provisioner '{provisioner}' "
        "or manually by the system administrator. If volume creation is delayed, please "
        "verify that the provisioner is running and correctly registered."
    )


def class_not_found(name: str) -> str:
    return f'storageclass.storage.k8s.io "{name}" not found'


def find_volume(
    claim: Mapping[str, Any],
    volumes: Iterable[Object],
    node_fits: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Object | None:
    """The volume for an unbound claim: the one it names or that names it, else the smallest
    fitting one (then by name, for a stable choice)."""
    wanted = (claim.get("spec") or {}).get("volumeName")
    candidates = [pv for pv in volumes if storageutil.volume_fits(pv, claim, node_fits)]
    if wanted:
        return next((pv for pv in candidates if meta.name_of(pv) == wanted), None)
    prebound = [pv for pv in candidates if (pv.get("spec") or {}).get("claimRef")]
    if prebound:
        return prebound[0]
    if not candidates:
        return None
    return min(candidates, key=lambda pv: (storageutil.capacity_bytes(pv), meta.name_of(pv)))


@dataclass(frozen=True)
class Waiting:
    """Why an unbound claim stays Pending: an Event to record."""

    type: str
    reason: str
    message: str
    provisioner: str = ""
    """Set when an (external) provisioner is to create its volume."""


def why_pending(claim: Mapping[str, Any], classes: Mapping[str, Object]) -> Waiting:
    """What an unbound claim with no volume waits for."""
    name = storageutil.claim_class(claim)
    if not name:
        return Waiting("Normal", "FailedBinding", NO_CLASS)
    sc = classes.get(name)
    if sc is None:
        return Waiting("Warning", "ProvisioningFailed", class_not_found(name))
    annotations = meta.annotations_of(claim)
    delayed = sc.get("volumeBindingMode") == storageutil.WAIT_FOR_FIRST_CONSUMER
    if delayed and not annotations.get(storageutil.SELECTED_NODE):
        return Waiting("Normal", "WaitForFirstConsumer", WAIT_FOR_CONSUMER)
    provisioner = str(sc.get("provisioner") or "")
    if provisioner == "kubernetes.io/no-provisioner":
        return Waiting("Normal", "FailedBinding", NO_CLASS)  # Kubernetes says so too
    return Waiting("Normal", "ExternalProvisioning", external_provisioning(provisioner),
                   provisioner)  # fmt: skip


def bound_claim(claim: Object, pv: Mapping[str, Any], by_controller: bool) -> Object:
    """The claim's new main object once bound to `pv` (volumeName and annotations)."""
    updated = {**claim, "spec": {**(claim.get("spec") or {}), "volumeName": meta.name_of(pv)}}
    annotations = meta.annotations_of(claim)
    annotations[storageutil.BIND_COMPLETED] = "yes"
    if by_controller:
        annotations[storageutil.BOUND_BY_CONTROLLER] = "yes"
    updated["metadata"] = {**meta.meta(claim), "annotations": annotations}
    return updated


def bound_claim_status(claim: Mapping[str, Any], pv: Mapping[str, Any]) -> dict[str, Any]:
    status = dict(claim.get("status") or {})
    status["phase"] = "Bound"
    status["accessModes"] = storageutil.access_modes(pv)
    status["capacity"] = dict((pv.get("spec") or {}).get("capacity") or {})
    return status


def claimed_volume(pv: Object, claim: Mapping[str, Any], by_controller: bool) -> Object:
    """The volume's new main object with a claimRef to `claim`."""
    ref = {
        "kind": "PersistentVolumeClaim",
        "namespace": meta.namespace_of(claim),
        "name": meta.name_of(claim),
        "uid": meta.uid_of(claim),
        "apiVersion": "v1",
        "resourceVersion": meta.resource_version_of(claim),
    }
    updated = {**pv, "spec": {**(pv.get("spec") or {}), "claimRef": ref}}
    if by_controller:
        annotations = meta.annotations_of(pv)
        annotations[storageutil.BOUND_BY_CONTROLLER] = "yes"
        updated["metadata"] = {**meta.meta(pv), "annotations": annotations}
    return updated


def volume_phase(pv: Mapping[str, Any], claims: Mapping[str, Object]) -> tuple[str, str]:
    """(the phase the volume is in, a message) given the claims by `namespace/name`.

    Available without a claimRef (or pre-bound to a claim that does not exist yet); Bound
    while its claim exists and names it; Released once its claim is gone. A Failed phase
    (set when a reclaim failed) stays.
    """
    current = str((pv.get("status") or {}).get("phase") or "Pending")
    ref = (pv.get("spec") or {}).get("claimRef")
    if not ref:
        return "Available", ""
    claim = claims.get(storageutil.claim_key(ref.get("namespace", ""), ref.get("name", "")))
    if claim is None or (ref.get("uid") and ref.get("uid") != meta.uid_of(claim)):
        if not ref.get("uid"):
            return "Available", ""
        if current == "Failed":
            return current, str((pv.get("status") or {}).get("message") or "")
        return "Released", ""
    if (claim.get("spec") or {}).get("volumeName") == meta.name_of(pv):
        return "Bound", ""
    return current if current in ("Bound", "Released") else "Available", ""


def unbound_by_controller(pv: Mapping[str, Any], claims: Mapping[str, Object]) -> bool:
    """The volume's claim was bound elsewhere and the controller made this binding: free it."""
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    claim = claims.get(storageutil.claim_key(ref.get("namespace", ""), ref.get("name", "")))
    if claim is None or (ref.get("uid") and ref.get("uid") != meta.uid_of(claim)):
        return False
    bound_to = (claim.get("spec") or {}).get("volumeName")
    return (
        bool(bound_to)
        and bound_to != meta.name_of(pv)
        and meta.annotations_of(pv).get(storageutil.BOUND_BY_CONTROLLER) == "yes"
    )
