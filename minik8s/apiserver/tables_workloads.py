"""Server-side Table columns of DaemonSets, StatefulSets, ControllerRevisions and the storage
kinds, following Kubernetes' printers (`kubectl get ds/sts/controllerrevisions/pv/pvc/sc`).
Registered in `tables.PRINTERS`."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta, resources, storageutil
from minik8s.apiserver import tables
from minik8s.apiserver.tables import AGE, NAME, Cells, Column, Obj

CONTAINERS = tables.CONTAINERS
IMAGES = tables.IMAGES

DAEMONSET_COLUMNS = (
    NAME,
    Column("Desired", "The number of nodes that should be running the daemon pod.", "integer"),
    Column("Current", "The number of nodes running at least one daemon pod.", "integer"),
    Column("Ready", "The number of nodes with a ready daemon pod.", "integer"),
    Column("Up-to-date", "The number of nodes running the updated daemon pod.", "integer"),
    Column("Available", "The number of nodes with an available daemon pod.", "integer"),
    Column("Node Selector", "The node selector of the pod template."),
    AGE,
    CONTAINERS,
    IMAGES,
    tables.SELECTOR,
)


def _daemonset_cells(ds: Obj, now: datetime) -> Cells:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    names, images = tables._container_cells(template_spec)
    return [
        meta.name_of(ds),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        tables.format_labels(template_spec.get("nodeSelector")),
        tables._age(ds, now),
        names,
        images,
        tables._format_label_selector(spec.get("selector")),
    ]


STATEFULSET_COLUMNS = (
    NAME,
    Column("Ready", "Number of the pod with ready state out of the desired pods."),
    AGE,
    CONTAINERS,
    IMAGES,
)


def _statefulset_cells(sts: Obj, now: datetime) -> Cells:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    names, images = tables._container_cells((spec.get("template") or {}).get("spec") or {})
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [meta.name_of(sts), ready, tables._age(sts, now), names, images]


CONTROLLERREVISION_COLUMNS = (
    NAME,
    Column("Controller", "Controller of the object."),
    Column("Revision", "Revision of the ControllerRevision.", "integer"),
    AGE,
)


def _controllerrevision_cells(revision: Obj, now: datetime) -> Cells:
    ref = meta.controller_ref(revision)
    controller = "<none>"
    if ref is not None:
        api_version = str(ref.get("apiVersion") or "")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        kind = f"{ref.get('kind', '')}.{group}" if group else str(ref.get("kind", ""))
        controller = f"{kind.lower()}/{ref.get('name', '')}"
    return [
        meta.name_of(revision),
        controller,
        revision.get("revision", 0),
        tables._age(revision, now),
    ]


VOLUME_ATTRIBUTES_CLASS = Column("VolumeAttributesClass", "VolumeAttributesClass of the volume.")
VOLUME_MODE = Column("VolumeMode", "The volume mode (Filesystem or Block).", priority=1)

PV_COLUMNS = (
    NAME,
    Column("Capacity", "The capacity of the volume."),
    Column("Access Modes", "The access modes of the volume."),
    Column("Reclaim Policy", "What happens to the volume when its claim is released."),
    Column("Status", "The phase of the volume."),
    Column("Claim", "The claim bound to the volume."),
    Column("StorageClass", "The StorageClass of the volume."),
    VOLUME_ATTRIBUTES_CLASS,
    Column("Reason", "Why the volume is in this phase."),
    AGE,
    VOLUME_MODE,
)


def _phase(obj: Obj) -> str:
    if meta.is_deleting(obj):
        return "Terminating"
    return str((obj.get("status") or {}).get("phase") or "")


def _pv_cells(pv: Obj, now: datetime) -> Cells:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    return [
        meta.name_of(pv),
        str((spec.get("capacity") or {}).get("storage", "")),
        storageutil.short_access_modes(spec.get("accessModes") or []),
        spec.get("persistentVolumeReclaimPolicy", ""),
        _phase(pv),
        claim,
        storageutil.volume_class(pv),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        tables._age(pv, now),
        spec.get("volumeMode") or "<unset>",
    ]


PVC_COLUMNS = (
    NAME,
    Column("Status", "The phase of the claim."),
    Column("Volume", "The volume bound to the claim."),
    Column("Capacity", "The capacity of the bound volume."),
    Column("Access Modes", "The access modes of the bound volume."),
    Column("StorageClass", "The StorageClass of the claim."),
    VOLUME_ATTRIBUTES_CLASS,
    AGE,
    VOLUME_MODE,
)


def _pvc_cells(pvc: Obj, now: datetime) -> Cells:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = storageutil.short_access_modes(status.get("accessModes") or [])
        capacity = str((status.get("capacity") or {}).get("storage", ""))
    return [
        meta.name_of(pvc),
        _phase(pvc),
        spec.get("volumeName", ""),
        capacity,
        modes,
        storageutil.claim_class(pvc) or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        tables._age(pvc, now),
        spec.get("volumeMode") or "<unset>",
    ]


STORAGECLASS_COLUMNS = (
    NAME,
    Column("Provisioner", "The provisioner of the class."),
    Column("ReclaimPolicy", "The reclaim policy of the volumes it provisions."),
    Column("VolumeBindingMode", "When its claims are bound and provisioned."),
    Column("AllowVolumeExpansion", "Whether its volumes may be expanded.", "boolean"),
    AGE,
)


def _storageclass_cells(sc: Obj, now: datetime) -> Cells:
    name = meta.name_of(sc)
    if storageutil.is_default_class(sc):
        name += " (default)"
    return [
        name,
        sc.get("provisioner", ""),
        sc.get("reclaimPolicy") or "Delete",
        sc.get("volumeBindingMode") or "Immediate",
        bool(sc.get("allowVolumeExpansion")),
        tables._age(sc, now),
    ]


PRINTERS: dict[resources.ResourceType, tables.Printer] = {
    resources.DAEMONSETS: (DAEMONSET_COLUMNS, _daemonset_cells),
    resources.STATEFULSETS: (STATEFULSET_COLUMNS, _statefulset_cells),
    resources.CONTROLLERREVISIONS: (CONTROLLERREVISION_COLUMNS, _controllerrevision_cells),
    resources.PERSISTENTVOLUMES: (PV_COLUMNS, _pv_cells),
    resources.PERSISTENTVOLUMECLAIMS: (PVC_COLUMNS, _pvc_cells),
    resources.STORAGECLASSES: (STORAGECLASS_COLUMNS, _storageclass_cells),
}
