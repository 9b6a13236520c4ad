"""Storage kinds: core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1
StorageClass (the pod's `persistentVolumeClaim` volume source is in `core`)."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel, Quantity
from minik8s.api.models.core import HostPathVolumeSource, NodeSelector
from minik8s.api.models.meta import (
    Condition,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
    TypedObject,
)


class VolumeResourceRequirements(ApiModel):
    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None


class TypedLocalObjectReference(ApiModel):
    api_group: str | None = None
    kind: str
    name: str


class PersistentVolumeClaimSpec(ApiModel):
    access_modes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: TypedLocalObjectReference | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimStatus(ApiModel):
    phase: str | None = None
    access_modes: list[str] | None = None
    capacity: dict[str, Quantity] | None = None
    conditions: list[Condition] | None = None


class PersistentVolumeClaim(TypedObject):
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class PersistentVolumeClaimTemplate(ApiModel):
    """A claim inside a StatefulSet's `volumeClaimTemplates` (apiVersion/kind optional)."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class LocalVolumeSource(ApiModel):
    path: str
    fs_type: str | None = None


class VolumeNodeAffinity(ApiModel):
    required: NodeSelector | None = None


class PersistentVolumeSpec(ApiModel):
    capacity: dict[str, Quantity] | None = None
    access_modes: list[str] | None = None
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str | None = None
    storage_class_name: str | None = None
    mount_options: list[str] | None = None
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    host_path: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None


class PersistentVolumeStatus(ApiModel):
    phase: str | None = None
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: str | None = None


class PersistentVolume(TypedObject):
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


class TopologySelectorLabelRequirement(ApiModel):
    key: str
    values: list[str]


class TopologySelectorTerm(ApiModel):
    match_label_expressions: list[TopologySelectorLabelRequirement] | None = None


class StorageClass(TypedObject):
    provisioner: str
    parameters: dict[str, str] | None = None
    reclaim_policy: str | None = None
    mount_options: list[str] | None = None
    allow_volume_expansion: bool | None = None
    volume_binding_mode: str | None = None
    allowed_topologies: list[TopologySelectorTerm] | None = None
