"""VolumeBinding, pure (Kubernetes' scheduler plugin of that name): what a pod's
PersistentVolumeClaims demand of its node, decided once per scheduling attempt.

- A missing or terminating claim, or an unbound claim of an Immediate class, makes the pod
  unschedulable everywhere (the claim must be bound first).
- A bound claim's volume admits only the nodes of its node affinity: a StatefulSet pod comes
  back to the node that holds its data.
- An unbound claim of a WaitForFirstConsumer class fits any node its class can provision on
  (a dynamic provisioner: all of them), else a node some available matching volume reaches.
  Once a node is chosen, the claim gets the `volume.kubernetes.io/selected-node` annotation,
  which the binder and the provisioner act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api import meta, storageutil
from minik8s.api.meta import Object
from minik8s.scheduler.nodeinfo import PodInfo, SelectorTerm, VolumeConstraint, parse_term

AFFINITY_CONFLICT = "node(s) had volume node affinity conflict"
NO_VOLUME_TO_BIND = "node(s) didn't find available persistent volumes to bind"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NO_PROVISIONER = "kubernetes.io/no-provisioner"


@dataclass(frozen=True)
class VolumeDecision:
    error: str = ""
    """Set when no node can work: the pod waits (the message names the claim)."""
    constraints: tuple[VolumeConstraint, ...] = ()
    delayed: tuple[str, ...] = ()
    """Unbound WaitForFirstConsumer claims to annotate with the chosen node."""


def _terms_of(pv: Mapping[str, Any]) -> tuple[SelectorTerm, ...] | None:
    """The volume's node affinity terms; None when it reaches every node."""
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    if not required:
        return None
    return tuple(parse_term(t) for t in required.get("nodeSelectorTerms") or ())


def decide(
    pod: PodInfo,
    claims: Mapping[str, Object],
    volumes: Mapping[str, Object],
    classes: Mapping[str, Object],
) -> VolumeDecision:
    """The pod's volume constraints; `claims` by `namespace/name`, the others by name."""
    constraints: list[VolumeConstraint] = []
    delayed: list[str] = []
    for name in pod.claims:
        claim = claims.get(storageutil.claim_key(pod.namespace, name))
        if claim is None:
            return VolumeDecision(error=f'persistentvolumeclaim "{name}" not found')
        if meta.is_deleting(claim):
            return VolumeDecision(error=f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if volume_name:
            pv = volumes.get(volume_name)
            if pv is None:
                return VolumeDecision(error=f'persistentvolume "{volume_name}" not found')
            terms = _terms_of(pv)
            if terms is not None:
                constraints.append(VolumeConstraint(AFFINITY_CONFLICT, terms))
            continue
        sc = classes.get(storageutil.claim_class(claim) or "")
        if sc is None or sc.get("volumeBindingMode") != storageutil.WAIT_FOR_FIRST_CONSUMER:
            return VolumeDecision(error=UNBOUND_IMMEDIATE)
        delayed.append(name)
        if sc.get("provisioner") != NO_PROVISIONER:
            continue  # provisioned on whichever node the pod lands
        candidates = [pv for pv in volumes.values() if storageutil.volume_fits(pv, claim)]
        reachable: list[SelectorTerm] = []
        unconstrained = False
        for pv in candidates:
            terms = _terms_of(pv)
            if terms is None:
                unconstrained = True
                break
            reachable.extend(terms)
        if not unconstrained:
            constraints.append(VolumeConstraint(NO_VOLUME_TO_BIND, tuple(reachable)))
    return VolumeDecision(constraints=tuple(constraints), delayed=tuple(delayed))
