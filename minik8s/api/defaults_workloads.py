"""Kubernetes' defaulting of DaemonSets, StatefulSets and the storage kinds (PersistentVolume,
PersistentVolumeClaim, StorageClass), registered by `defaults`. Only absent fields are filled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import defaults


def default_daemon_set(ds: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(ds, "spec")
    if spec is None:
        return
    defaults.default_strategy(spec, "updateStrategy", {"maxUnavailable": 1, "maxSurge": 0})
    defaults.default(spec, "revisionHistoryLimit", 10)
    defaults.default_template(spec)


def default_stateful_set(sts: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(sts, "spec")
    if spec is None:
        return
    defaults.default(spec, "replicas", 1)
    defaults.default(spec, "podManagementPolicy", "OrderedReady")
    defaults.default_strategy(spec, "updateStrategy", {"partition": 0})
    defaults.default(spec, "revisionHistoryLimit", 10)
    policy = defaults.ensure_dict(spec, "persistentVolumeClaimRetentionPolicy")
    if policy is not None:
        defaults.default(policy, "whenDeleted", "Retain")
        defaults.default(policy, "whenScaled", "Retain")
    for claim in defaults.items(spec, "volumeClaimTemplates"):
        defaults.default(claim, "apiVersion", "v1")
        defaults.default(claim, "kind", "PersistentVolumeClaim")
        default_persistent_volume_claim(claim)
    defaults.default_template(spec)


def default_persistent_volume_claim(pvc: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(pvc, "spec")
    if spec is not None:
        defaults.default(spec, "volumeMode", "Filesystem")
    status = defaults.ensure_dict(pvc, "status")
    if status is not None:
        defaults.default(status, "phase", "Pending")


def default_persistent_volume(pv: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(pv, "spec")
    if spec is not None:
        defaults.default(spec, "persistentVolumeReclaimPolicy", "Retain")
        defaults.default(spec, "volumeMode", "Filesystem")
        host_path = spec.get("hostPath")
        if isinstance(host_path, dict):
            defaults.default(host_path, "type", "")
    status = defaults.ensure_dict(pv, "status")
    if status is not None:
        defaults.default(status, "phase", "Pending")


def default_storage_class(sc: dict[str, Any]) -> None:
    defaults.default(sc, "reclaimPolicy", "Delete")
    defaults.default(sc, "volumeBindingMode", "Immediate")


DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "DaemonSet": default_daemon_set,
    "StatefulSet": default_stateful_set,
    "PersistentVolumeClaim": default_persistent_volume_claim,
    "PersistentVolume": default_persistent_volume,
    "StorageClass": default_storage_class,
}
