"""Printers of the `storage.k8s.io` group: StorageClasses (`kubectl get sc`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta, storageutil
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

STORAGECLASS_COLUMNS = (
    NAME,
    Column("Provisioner", "The provisioner of the class."),
    Column("ReclaimPolicy", "The reclaim policy of the volumes it provisions."),
    Column("VolumeBindingMode", "When its claims are bound and provisioned."),
    Column("AllowVolumeExpansion", "Whether its volumes may be expanded.", "boolean"),
    AGE,
)


def storageclass_cells(sc: Object, now: datetime) -> Cells:
    name = meta.name_of(sc)
    if storageutil.is_default_class(sc):
        name += " (default)"
    return [
        name,
        sc.get("provisioner", ""),
        sc.get("reclaimPolicy") or "Delete",
        sc.get("volumeBindingMode") or "Immediate",
        bool(sc.get("allowVolumeExpansion")),
        age(sc, now),
    ]
