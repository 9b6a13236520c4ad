"""Validation of DaemonSets, StatefulSets, ControllerRevisions and the storage kinds
(PersistentVolume, PersistentVolumeClaim, StorageClass), with Kubernetes' paths and messages.
Registered by `validation`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import quantity
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.apps import (
    validate_rolling_numbers,
    validate_selector_update,
    validate_workload_spec,
)
from minik8s.api.validation.meta import (
    child,
    enum,
    immutable,
    index,
    invalid,
    invalid_each,
    items,
    mapping,
    non_negative,
    required,
    validate_label_selector,
    validate_labels,
)

DS_STRATEGIES = ["OnDelete", "RollingUpdate"]
STS_STRATEGIES = ["OnDelete", "RollingUpdate"]
POD_MANAGEMENT_POLICIES = ["OrderedReady", "Parallel"]
RETENTION_POLICIES = ["Retain", "Delete"]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
VOLUME_MODES = ["Block", "Filesystem"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
SC_RECLAIM_POLICIES = ["Delete", "Retain"]
BINDING_MODES = ["Immediate", "WaitForFirstConsumer"]
PV_SOURCES = ("hostPath", "local")
"""The PersistentVolume sources minik8s can mount (the kubelet bind-mounts a node directory)."""
PV_SOURCES_KNOWN = (*PV_SOURCES, "nfs", "csi", "iscsi", "fc", "rbd", "cephfs", "gcePersistentDisk",
                    "awsElasticBlockStore", "azureDisk", "azureFile", "glusterfs", "flexVolume",
                    "vsphereVolume", "portworxVolume", "scaleIO", "storageos", "quobyte",
                    "photonPersistentDisk", "cinder", "flocker")  # fmt: skip
STS_UPDATABLE = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
STS_MUTABLE_FIELDS = ("replicas", "ordinals", "template", "updateStrategy",
                      "persistentVolumeClaimRetentionPolicy", "minReadySeconds")  # fmt: skip
PVC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def _spec(obj: Object) -> Object:
    return mapping(obj, "spec")


# --- DaemonSet -----------------------------------------------------------------------------------


def validate_daemon_set(ds: Object) -> list[Cause]:
    spec = _spec(ds)
    causes = validate_workload_spec(spec, "DaemonSet")
    causes += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    strategy = mapping(spec, "updateStrategy")
    path = "spec.updateStrategy"
    strategy_type = strategy.get("type")
    causes += enum(child(path, "type"), strategy_type, DS_STRATEGIES)
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "RollingUpdate" and isinstance(rolling, dict):
        causes += validate_rolling_numbers(rolling, child(path, "rollingUpdate"))
    return causes


# --- StatefulSet ---------------------------------------------------------------------------------


def _with_claim_volumes(spec: Object) -> Object:
    """The spec with a volume per claim template, as each pod gets (so mounts resolve)."""
    claims = [mapping(c, "metadata").get("name") for c in items(spec, "volumeClaimTemplates")]
    template = mapping(spec, "template")
    pod_spec = mapping(template, "spec")
    if not claims or not pod_spec:
        return spec
    volumes = items(pod_spec, "volumes")
    have = {v.get("name") for v in volumes}
    volumes = volumes + [
        {"name": name, "persistentVolumeClaim": {"claimName": name}}
        for name in claims
        if name and name not in have
    ]
    return {**spec, "template": {**template, "spec": {**pod_spec, "volumes": volumes}}}


def validate_stateful_set(sts: Object) -> list[Cause]:
    spec = _spec(sts)
    causes = validate_workload_spec(_with_claim_volumes(spec), "StatefulSet")
    causes += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    causes += non_negative("spec.ordinals.start", mapping(spec, "ordinals").get("start"))
    service = spec.get("serviceName")
    if service:
        causes += invalid_each("spec.serviceName", service, fmt.is_dns1123_label(service))
    causes += enum(
        "spec.podManagementPolicy", spec.get("podManagementPolicy"), POD_MANAGEMENT_POLICIES
    )
    strategy = mapping(spec, "updateStrategy")
    path = "spec.updateStrategy"
    strategy_type = strategy.get("type")
    causes += enum(child(path, "type"), strategy_type, STS_STRATEGIES)
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "OnDelete" and rolling is not None:
        causes.append(
            invalid(
                child(path, "rollingUpdate"),
                rolling,
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )
    elif isinstance(rolling, dict):
        rolling_path = child(path, "rollingUpdate")
        causes += non_negative(child(rolling_path, "partition"), rolling.get("partition"))
        if rolling.get("maxUnavailable") is not None:
            causes.append(
                api_errors.forbidden(
                    child(rolling_path, "maxUnavailable"),
                    "maxUnavailable is an alpha feature (MaxUnavailableStatefulSet) "
                    "that minik8s does not serve",
                )
            )
    policy = mapping(spec, "persistentVolumeClaimRetentionPolicy")
    for field in ("whenDeleted", "whenScaled"):
        causes += enum(
            child("spec.persistentVolumeClaimRetentionPolicy", field),
            policy.get(field),
            RETENTION_POLICIES,
        )
    seen: set[str] = set()
    for i, claim in enumerate(items(spec, "volumeClaimTemplates")):
        claim_path = index("spec.volumeClaimTemplates", i)
        name = mapping(claim, "metadata").get("name") or ""
        if not name:
            causes.append(required(child(claim_path, "metadata.name")))
        elif name in seen:
            causes.append(api_errors.duplicate(child(claim_path, "metadata.name"), name))
        else:
            causes += invalid_each(
                child(claim_path, "metadata.name"), name, fmt.is_dns1123_subdomain(name)
            )
        seen.add(name)
        causes += validate_labels(
            mapping(mapping(claim, "metadata"), "labels"), child(claim_path, "metadata.labels")
        )
        causes += validate_claim_spec(_spec(claim), child(claim_path, "spec"))
    return causes


def validate_stateful_set_update(new: Object, old: Object) -> list[Cause]:
    """Only replicas, ordinals, template, updateStrategy, the retention policy and
    minReadySeconds may change."""
    new_spec, old_spec = _spec(new), _spec(old)
    rest_new = {k: v for k, v in new_spec.items() if k not in STS_MUTABLE_FIELDS}
    rest_old = {k: v for k, v in old_spec.items() if k not in STS_MUTABLE_FIELDS}
    if rest_new != rest_old:
        return [api_errors.forbidden("spec", STS_UPDATABLE)]
    return []


# --- ControllerRevision --------------------------------------------------------------------------


def validate_controller_revision(revision: Object) -> list[Cause]:
    causes = non_negative("revision", revision.get("revision"))
    if revision.get("data") is None:
        causes.append(required("data"))
    return causes


def validate_controller_revision_update(new: Object, old: Object) -> list[Cause]:
    return immutable("data", new.get("data"), old.get("data"))


# --- PersistentVolumeClaim -----------------------------------------------------------------------


def validate_claim_spec(spec: Object, path: str) -> list[Cause]:
    causes = _validate_access_modes(spec.get("accessModes"), child(path, "accessModes"))
    selector = spec.get("selector")
    if isinstance(selector, dict):
        causes += validate_label_selector(selector, child(path, "selector"))
    storage = mapping(mapping(spec, "resources"), "requests").get("storage")
    storage_path = f"{child(path, 'resources')}[storage]"
    if storage is None:
        causes.append(required(storage_path))
    else:
        causes += _positive_quantity(storage_path, storage)
    class_name = spec.get("storageClassName")
    if class_name:
        causes += invalid_each(
            child(path, "storageClassName"), class_name, fmt.is_dns1123_subdomain(class_name)
        )
    causes += enum(child(path, "volumeMode"), spec.get("volumeMode"), VOLUME_MODES)
    if spec.get("volumeMode") == "Block":
        causes.append(
            api_errors.forbidden(
                child(path, "volumeMode"), "minik8s mounts Filesystem volumes only"
            )
        )
    if spec.get("dataSource") is not None or spec.get("dataSourceRef") is not None:
        causes.append(
            api_errors.forbidden(
                child(path, "dataSource"), "volume populators are not supported by minik8s"
            )
        )
    return causes


def validate_persistent_volume_claim(pvc: Object) -> list[Cause]:
    return validate_claim_spec(_spec(pvc), "spec")


def validate_persistent_volume_claim_update(new: Object, old: Object) -> list[Cause]:
    """The spec is immutable, except that a claim may get its volumeName (binding) and, while
    it has none, a storageClassName (the default class assigned after creation)."""
    new_spec, old_spec = dict(_spec(new)), dict(_spec(old))
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        new_spec.pop("volumeName", None)
    if old_spec.get("storageClassName") is None:
        old_spec.pop("storageClassName", None)
        new_spec.pop("storageClassName", None)
    if new_spec != old_spec:
        return [api_errors.forbidden("spec", PVC_IMMUTABLE)]
    return []


# --- PersistentVolume ----------------------------------------------------------------------------


def validate_persistent_volume(pv: Object) -> list[Cause]:
    spec = _spec(pv)
    causes: list[Cause] = []
    capacity = spec.get("capacity")
    if not capacity:
        causes.append(required("spec.capacity"))
    elif isinstance(capacity, dict):
        for name, value in capacity.items():
            if name != "storage":
                causes.append(api_errors.not_supported("spec.capacity", name, ["storage"]))
            else:
                causes += _positive_quantity("spec.capacity[storage]", value)
    causes += _validate_access_modes(spec.get("accessModes"), "spec.accessModes")
    causes += enum(
        "spec.persistentVolumeReclaimPolicy",
        spec.get("persistentVolumeReclaimPolicy"),
        RECLAIM_POLICIES,
    )
    if spec.get("persistentVolumeReclaimPolicy") == "Recycle":
        causes.append(
            api_errors.forbidden(
                "spec.persistentVolumeReclaimPolicy",
                "Recycle is deprecated and not supported by minik8s",
            )
        )
    class_name = spec.get("storageClassName")
    if class_name:
        causes += invalid_each(
            "spec.storageClassName", class_name, fmt.is_dns1123_subdomain(class_name)
        )
    causes += enum("spec.volumeMode", spec.get("volumeMode"), VOLUME_MODES)
    sources = [s for s in PV_SOURCES_KNOWN if spec.get(s) is not None]
    if not sources:
        causes.append(required("spec", "must specify a volume type"))
    for extra in sources[1:]:
        causes.append(
            api_errors.forbidden(child("spec", extra), "may not specify more than 1 volume type")
        )
    if sources and sources[0] not in PV_SOURCES:
        causes.append(
            api_errors.forbidden(
                child("spec", sources[0]), "minik8s mounts hostPath and local volumes only"
            )
        )
    for source in PV_SOURCES:
        path = mapping(spec, source).get("path")
        if spec.get(source) is not None and not path:
            causes.append(required(child("spec", source, "path")))
    if spec.get("local") is not None and not mapping(spec, "nodeAffinity").get("required"):
        causes.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
    return causes


def validate_persistent_volume_update(new: Object, old: Object) -> list[Cause]:
    new_spec, old_spec = _spec(new), _spec(old)
    causes: list[Cause] = []
    for source in PV_SOURCES_KNOWN:
        if new_spec.get(source) != old_spec.get(source):
            causes.append(
                api_errors.forbidden(
                    "spec.persistentvolumesource",
                    "spec.persistentvolumesource is immutable after creation",
                )
            )
            break
    if old_spec.get("nodeAffinity") is not None:
        causes += immutable(
            "spec.nodeAffinity", new_spec.get("nodeAffinity"), old_spec.get("nodeAffinity")
        )
    return causes


# --- StorageClass --------------------------------------------------------------------------------


def validate_storage_class(sc: Object) -> list[Cause]:
    provisioner = sc.get("provisioner")
    causes: list[Cause] = []
    if not provisioner:
        causes.append(required("provisioner"))
    else:
        causes += invalid_each(
            "provisioner", provisioner, fmt.is_qualified_name(provisioner.lower())
        )
    causes += enum("reclaimPolicy", sc.get("reclaimPolicy"), SC_RECLAIM_POLICIES)
    causes += enum("volumeBindingMode", sc.get("volumeBindingMode"), BINDING_MODES)
    return causes


def validate_storage_class_update(new: Object, old: Object) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("parameters", "provisioner", "reclaimPolicy"):
        if new.get(field) != old.get(field):
            causes.append(api_errors.forbidden(field, f"updates to {field} are forbidden."))
    causes += immutable(
        "volumeBindingMode", new.get("volumeBindingMode"), old.get("volumeBindingMode")
    )
    return causes


# --- shared --------------------------------------------------------------------------------------


def _validate_access_modes(modes: Any, path: str) -> list[Cause]:
    if not modes:
        return [required(path, "at least 1 access mode is required")]
    causes: list[Cause] = []
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(api_errors.not_supported(path, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(
            api_errors.forbidden(path, "may not use ReadWriteOncePod with other access modes")
        )
    return causes


def _positive_quantity(path: str, value: Any) -> list[Cause]:
    try:
        parsed = quantity.parse_quantity(value)
    except ValueError:
        return [
            invalid(
                path,
                value,
                "quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )
        ]
    if parsed <= 0:
        return [invalid(path, value, "must be greater than zero")]
    return []


SEMANTIC_CHECKS: dict[str, Callable[[Object], list[Cause]]] = {
    "DaemonSet": validate_daemon_set,
    "StatefulSet": validate_stateful_set,
    "ControllerRevision": validate_controller_revision,
    "PersistentVolumeClaim": validate_persistent_volume_claim,
    "PersistentVolume": validate_persistent_volume,
    "StorageClass": validate_storage_class,
}

UPDATE_CHECKS: dict[str, Callable[[Object, Object], list[Cause]]] = {
    "DaemonSet": validate_selector_update,
    "StatefulSet": validate_stateful_set_update,
    "ControllerRevision": validate_controller_revision_update,
    "PersistentVolumeClaim": validate_persistent_volume_claim_update,
    "PersistentVolume": validate_persistent_volume_update,
    "StorageClass": validate_storage_class_update,
}
