"""The StatefulSet controller's decisions, pure (Kubernetes' `controller/statefulset`): pod
identity (`<set>-<ordinal>`, hostname, subdomain, labels), the claims of each pod, which pod
to create, delete or replace next under OrderedReady or Parallel management, RollingUpdate with
a partition, the claim retention policy and the status.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minik8s.api import meta, podutil
from minik8s.api.meta import Object
from minik8s.api.resources import PODS, STATEFULSETS
from minik8s.controllers import history_plan

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = history_plan.DAEMONSET_HASH_LABEL
"""`controller-revision-hash` on each pod: the name of the revision it runs."""
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# --- identity ----------------------------------------------------------------------------------


def start_ordinal(sts: Mapping[str, Any]) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def replicas(sts: Mapping[str, Any]) -> int:
    value = (sts.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def ordinal_of(pod: Mapping[str, Any], sts: Mapping[str, Any]) -> int:
    """The pod's ordinal, or -1 when its name is not `<set>-<n>`."""
    match = _ORDINAL.match(meta.name_of(pod))
    if match is None or match.group(1) != meta.name_of(sts):
        return -1
    return int(match.group(2))


def pod_name(sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{meta.name_of(sts)}-{ordinal}"


def claim_name(template: Mapping[str, Any], sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{meta.name_of(template)}-{meta.name_of(sts)}-{ordinal}"


def claim_templates(sts: Mapping[str, Any]) -> list[Object]:
    return [t for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or [] if t]


def revision_of(pod: Mapping[str, Any]) -> str:
    return meta.labels_of(pod).get(REVISION_LABEL, "")


def new_pod(sts: Object, template: Mapping[str, Any], ordinal: int, revision: str) -> Object:
    """Pod `<set>-<ordinal>` of `template` (the set's, or an older revision's), with its
    identity, its claims as volumes and the revision label."""
    template = copy.deepcopy(dict(template))
    template_meta = template.get("metadata") or {}
    name = pod_name(sts, ordinal)
    labels = {
        **(template_meta.get("labels") or {}),
        POD_NAME_LABEL: name,
        POD_INDEX_LABEL: str(ordinal),
        REVISION_LABEL: revision,
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": meta.namespace_of(sts),
        "labels": labels,
        "ownerReferences": [meta.owner_reference(STATEFULSETS, sts)],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(template_meta["annotations"])
    spec = dict(template.get("spec") or {})
    spec["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claimed = {meta.name_of(t): claim_name(t, sts, ordinal) for t in claim_templates(sts)}
    volumes = [
        {"name": volume, "persistentVolumeClaim": {"claimName": claim}}
        for volume, claim in claimed.items()
    ]
    volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in claimed]
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


# --- claims ------------------------------------------------------------------------------------


def new_claims(sts: Object, ordinal: int) -> list[Object]:
    """The claims of pod `ordinal`: `<template>-<set>-<ordinal>`, labelled with the template's
    labels and the set's selector labels."""
    selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    result = []
    for template in claim_templates(sts):
        template_meta = template.get("metadata") or {}
        metadata: dict[str, Any] = {
            "name": claim_name(template, sts, ordinal),
            "namespace": meta.namespace_of(sts),
            "labels": {**(template_meta.get("labels") or {}), **selector_labels},
        }
        if template_meta.get("annotations"):
            metadata["annotations"] = dict(template_meta["annotations"])
        result.append({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {}),
        })  # fmt: skip
    return result


def retention(sts: Mapping[str, Any]) -> tuple[str, str]:
    """(whenDeleted, whenScaled), Retain when unset."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or "Retain", policy.get("whenScaled") or "Retain"


def claim_owner_refs(
    sts: Object, claim: Mapping[str, Any], pod: Mapping[str, Any] | None, in_range: bool
) -> list[dict[str, Any]]:
    """The ownerReferences the retention policy wants on a claim of the set: a reference to
    the set when `whenDeleted: Delete` (the garbage collector deletes the claim with it), to
    its condemned pod when `whenScaled: Delete` (deleted once the scaled-down pod is gone).
    References to anything else are kept."""
    when_deleted, when_scaled = retention(sts)
    sts_uid = meta.uid_of(sts)
    pod_uid = meta.uid_of(pod) if pod is not None else ""
    refs = [
        r
        for r in meta.owner_references(claim)
        if r.get("uid") not in (sts_uid, pod_uid) or r.get("kind") not in ("Pod", "StatefulSet")
    ]
    scaled_away = pod is not None and not in_range and when_scaled == "Delete"
    if scaled_away:
        refs.append(meta.owner_reference(PODS, pod, controller=False))  # type: ignore[arg-type]
    elif when_deleted == "Delete":
        refs.append(meta.owner_reference(STATEFULSETS, sts))
    return refs


# --- what to do next ---------------------------------------------------------------------------


@dataclass
class Step:
    create: list[int] = field(default_factory=list)
    """Ordinals to create (their claims first)."""
    create_revision: dict[int, str] = field(default_factory=dict)
    """Which revision each new pod runs: "current" or "update"."""
    delete: list[Object] = field(default_factory=list)
    """Pods to delete (failed, condemned, or outdated in a rolling update)."""
    condemned: list[Object] = field(default_factory=list)
    """Of `delete`, those beyond the replica count (their claims may follow them)."""
    waiting: str = ""
    """Why OrderedReady stopped, for logs."""


def healthy(pod: Mapping[str, Any], min_ready: int, now: datetime) -> bool:
    """Running, ready (for minReadySeconds) and not terminating."""
    return (
        podutil.pod_phase(pod) == "Running"
        and podutil.pod_is_available(pod, min_ready, now)
        and not meta.is_deleting(pod)
    )


def split_pods(sts: Object, pods: Iterable[Object]) -> tuple[dict[int, Object], list[Object]]:
    """(pods in the ordinal range by ordinal, the others: condemned, highest ordinal first)."""
    first = start_ordinal(sts)
    end = first + replicas(sts)
    in_range: dict[int, Object] = {}
    condemned: list[Object] = []
    for pod in pods:
        ordinal = ordinal_of(pod, sts)
        if ordinal < 0:
            continue
        if first <= ordinal < end:
            in_range[ordinal] = pod
        else:
            condemned.append(pod)
    condemned.sort(key=lambda p: ordinal_of(p, sts), reverse=True)
    return in_range, condemned


def new_pod_revision(sts: Object, ordinal: int, current_replicas: int) -> str:
    """ "current" or "update": pods below the partition keep the current revision
    (Kubernetes' newVersionedStatefulSetPod)."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return "update"
    rolling = strategy.get("rollingUpdate")
    first = start_ordinal(sts)
    if rolling is None:
        return "current" if ordinal < first + current_replicas else "update"
    return "current" if ordinal < first + int(rolling.get("partition") or 0) else "update"


def next_step(
    sts: Object,
    pods: Iterable[Object],
    update_revision: str,
    current_replicas: int,
    now: datetime,
) -> Step:
    """What the next sync does (Kubernetes' updateStatefulSet): replace failed pods, create
    missing ones (in order, one at a time and only once the previous ones are healthy, under
    OrderedReady), delete condemned ones (highest first), then roll outdated pods from the
    highest ordinal down to the partition, one at a time."""
    spec = sts.get("spec") or {}
    monotonic = (spec.get("podManagementPolicy") or "OrderedReady") != "Parallel"
    min_ready = int(spec.get("minReadySeconds") or 0)
    in_range, condemned = split_pods(sts, pods)
    step = Step()
    first = start_ordinal(sts)
    for ordinal in range(first, first + replicas(sts)):
        pod = in_range.get(ordinal)
        if pod is not None and podutil.is_terminal(pod) and not meta.is_deleting(pod):
            step.delete.append(pod)  # recreated by the next sync, once it is gone
            if monotonic:
                step.waiting = f"recreating failed pod {meta.name_of(pod)}"
                return step
            continue
        if pod is None:
            step.create.append(ordinal)
            step.create_revision[ordinal] = new_pod_revision(sts, ordinal, current_replicas)
            if monotonic:
                step.waiting = f"creating pod {pod_name(sts, ordinal)}"
                return step
            continue
        if monotonic and meta.is_deleting(pod):
            step.waiting = f"pod {meta.name_of(pod)} is terminating"
            return step
        if monotonic and not healthy(pod, min_ready, now):
            step.waiting = f"pod {meta.name_of(pod)} is not ready"
            return step
    if step.create or step.delete:
        return step
    for pod in condemned:
        if meta.is_deleting(pod):
            if monotonic:
                step.waiting = f"pod {meta.name_of(pod)} is terminating"
                return step
            continue
        step.delete.append(pod)
        step.condemned.append(pod)
        if monotonic:
            step.waiting = f"scaling down: deleting {meta.name_of(pod)}"
            return step
    if step.delete:
        return step
    strategy = spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return step
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    for ordinal in range(first + replicas(sts) - 1, first + partition - 1, -1):
        pod = in_range.get(ordinal)
        if pod is None:
            continue
        if revision_of(pod) != update_revision and not meta.is_deleting(pod):
            step.delete.append(pod)
            step.waiting = f"rolling update: replacing {meta.name_of(pod)}"
            return step
        if not healthy(pod, min_ready, now):
            step.waiting = f"rolling update: waiting for {meta.name_of(pod)}"
            return step
    return step


# --- status ------------------------------------------------------------------------------------


def calculate_status(
    sts: Object,
    pods: Iterable[Object],
    current_revision: str,
    update_revision: str,
    now: datetime,
) -> dict[str, Any]:
    """Kubernetes' computeReplicaStatus, then completeRollingUpdate: once every pod runs the
    update revision and is ready, it becomes the current revision."""
    min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
    count = ready = available = current = updated = 0
    for pod in pods:
        if ordinal_of(pod, sts) < 0:
            continue
        count += 1
        if podutil.pod_phase(pod) == "Running" and podutil.pod_is_ready(pod):
            if not meta.is_deleting(pod):
                ready += 1
                if podutil.pod_is_available(pod, min_ready, now):
                    available += 1
        if not meta.is_deleting(pod):
            revision = revision_of(pod)
            current += 1 if revision == current_revision else 0
            updated += 1 if revision == update_revision else 0
    status: dict[str, Any] = dict(sts.get("status") or {})
    status.update(
        observedGeneration=meta.generation_of(sts),
        replicas=count,
        readyReplicas=ready,
        currentReplicas=current,
        updatedReplicas=updated,
        availableReplicas=available,
        currentRevision=current_revision,
        updateRevision=update_revision,
    )
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
    if rolling and updated == count and ready == count:
        status["currentRevision"] = update_revision
        status["currentReplicas"] = updated
    for name in ("readyReplicas", "currentReplicas", "updatedReplicas"):  # omitempty
        if not status[name]:
            status.pop(name)
    return status
