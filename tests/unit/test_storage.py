"""Storage, pure: claim/volume matching and phases, the scheduler's VolumeBinding, admission,
validation messages and the kubectl columns of pv, pvc and sc."""

from __future__ import annotations

import dataclasses
from typing import Any

from minik8s.api import defaults, validation
from minik8s.api import resources as rt
from minik8s.apiserver import admission_storage
from minik8s.controllers.volume import binder_plan, localpath_plan
from minik8s.printers import tables
from minik8s.scheduler import filtering, volumebinding
from minik8s.scheduler.nodeinfo import node_info, pod_info
from tests.support.scheduling import node


def claim(
    name: str = "data", storage: str = "1Gi", cls: str | None = "manual", **spec: Any
) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
            **spec,
        },
    }
    if cls is not None:
        obj["spec"]["storageClassName"] = cls
    defaults.apply_defaults(rt.PERSISTENTVOLUMECLAIMS, obj)
    return obj


def volume(
    name: str, storage: str = "1Gi", cls: str = "manual", node_name: str = "", **spec: Any
) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "storageClassName": cls,
            "hostPath": {"path": f"/data/{name}"},
            **spec,
        },
    }
    if node_name:
        obj["spec"]["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": [node_name],
                            }
                        ]
                    }
                ]
            }
        }
    defaults.apply_defaults(rt.PERSISTENTVOLUMES, obj)
    return obj


def test_smallest_fitting_volume_of_the_class_wins() -> None:
    volumes = [
        volume("big", "10Gi"),
        volume("small", "2Gi"),
        volume("tiny", "500Mi"),
        volume("other", "1Gi", cls="fast"),
    ]
    assert binder_plan.find_volume(claim(), volumes)["metadata"]["name"] == "small"
    assert binder_plan.find_volume(claim(storage="20Gi"), volumes) is None
    taken = volume("taken", "1Gi", claimRef={"namespace": "ns", "name": "someone", "uid": "x"})
    assert binder_plan.find_volume(claim(), [taken]) is None
    rwx = claim(accessModes=["ReadWriteMany", "ReadOnlyMany"])
    assert binder_plan.find_volume(rwx, volumes) is None


def test_volume_phases() -> None:
    c = claim()
    pv = volume("pv1", claimRef={"namespace": "ns", "name": "data", "uid": "uid-data"})
    claims = {"ns/data": c}
    assert binder_plan.volume_phase(volume("free"), claims) == ("Available", "")
    assert binder_plan.volume_phase(pv, claims) == ("Available", "")  # claim not bound to it yet
    c["spec"]["volumeName"] = "pv1"
    assert binder_plan.volume_phase(pv, claims) == ("Bound", "")
    assert binder_plan.volume_phase(pv, {}) == ("Released", "")


def test_why_a_claim_waits() -> None:
    classes = {"local-path": localpath_plan.default_class()}
    unknown = binder_plan.why_pending(claim(cls="nope"), classes)
    assert (unknown.type, unknown.reason) == ("Warning", "ProvisioningFailed")
    assert unknown.message == 'storageclass.storage.k8s.io "nope" not found'
    waiting = binder_plan.why_pending(claim(cls="local-path"), classes)
    assert waiting.reason == "WaitForFirstConsumer"
    selected = claim(cls="local-path")
    selected["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "n1"}
    provisioning = binder_plan.why_pending(selected, classes)
    assert provisioning.reason == "ExternalProvisioning"
    assert provisioning.provisioner == localpath_plan.PROVISIONER


def test_local_path_volume_is_pinned_to_the_node() -> None:
    c = claim(cls="local-path")
    pv = localpath_plan.new_volume(c, localpath_plan.default_class(), node("n1"), "/var/lib/x")
    assert pv["metadata"]["name"] == "pvc-uid-data"
    assert pv["spec"]["hostPath"] == {
        "path": "/var/lib/x/pvc-uid-data_ns_data",
        "type": "DirectoryOrCreate",
    }
    assert pv["spec"]["claimRef"]["uid"] == "uid-data"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    helper = localpath_plan.helper_pod({**pv, "metadata": {**pv["metadata"]}}, "kube-system", "bb")
    assert helper["spec"]["containers"][0]["command"] == ["rm", "-rf", "/data/pvc-uid-data_ns_data"]


def test_volume_binding_in_the_scheduler() -> None:
    bound = claim("bound", volumeName="pv1")
    lazy = claim("lazy", cls="local-path")
    immediate = claim("now", cls="manual")
    claims = {"ns/bound": bound, "ns/lazy": lazy, "ns/now": immediate}
    volumes = {"pv1": volume("pv1", node_name="n1")}
    classes = {
        "local-path": localpath_plan.default_class(),
        "manual": {
            "metadata": {"name": "manual"},
            "provisioner": "x",
            "volumeBindingMode": "Immediate",
        },
    }

    def pod_with(*names: str) -> Any:
        volumes_ = [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names]
        return pod_info(
            {
                "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"containers": [{"name": "c"}], "volumes": volumes_},
            }
        )

    decision = volumebinding.decide(pod_with("bound", "lazy"), claims, volumes, classes)
    assert not decision.error and decision.delayed == ("lazy",)
    placed = dataclasses.replace(pod_with("bound"), volume_constraints=decision.constraints)
    assert filtering.check_node(placed, node_info(node("n1"))) == ()
    assert filtering.check_node(placed, node_info(node("n2"))) == (volumebinding.AFFINITY_CONFLICT,)
    assert not filtering.is_plain(placed)
    assert volumebinding.decide(pod_with("now"), claims, volumes, classes).error == (
        volumebinding.UNBOUND_IMMEDIATE
    )
    assert volumebinding.decide(pod_with("gone"), claims, volumes, classes).error == (
        'persistentvolumeclaim "gone" not found'
    )


def test_admission_defaults_the_class_and_protects() -> None:
    default = {
        **localpath_plan.default_class(),
        "metadata": {
            **localpath_plan.default_class()["metadata"],
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
    }
    unset = claim(cls=None)
    admission_storage.admit_create(rt.PERSISTENTVOLUMECLAIMS, unset, lambda: [default])
    assert unset["spec"]["storageClassName"] == "local-path"
    assert unset["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    empty = claim(cls="")
    admission_storage.admit_create(rt.PERSISTENTVOLUMECLAIMS, empty, lambda: [default])
    assert empty["spec"]["storageClassName"] == ""
    pv = volume("pv1")
    admission_storage.admit_create(rt.PERSISTENTVOLUMES, pv, lambda: [])
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]


def messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def test_validation_messages() -> None:
    bad = claim(accessModes=[])
    bad["spec"]["resources"] = {}
    assert messages(validation.validate_create(rt.PERSISTENTVOLUMECLAIMS, bad)) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    old = claim()
    new = claim(storage="2Gi")
    assert messages(validation.validate_update(rt.PERSISTENTVOLUMECLAIMS, new, old))[0].startswith(
        "spec: Forbidden: spec is immutable after creation"
    )
    nfs = volume("pv1", nfs={"server": "x", "path": "/"})
    nfs["spec"].pop("hostPath")
    assert messages(validation.validate_create(rt.PERSISTENTVOLUMES, nfs)) == [
        "spec.nfs: Forbidden: minik8s mounts hostPath and local volumes only"
    ]
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    defaults.apply_defaults(rt.STATEFULSETS, sts)
    assert messages(validation.validate_create(rt.STATEFULSETS, sts)) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`"
    ]


def test_tables() -> None:
    c = claim(cls="local-path", volumeName="pvc-1")
    c["status"] = {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    (row,) = tables.to_table(rt.PERSISTENTVOLUMECLAIMS, [c])["rows"]
    assert row["cells"][:7] == ["data", "Bound", "pvc-1", "1Gi", "RWO", "local-path", "<unset>"]
    pv = volume("pv1", claimRef={"namespace": "ns", "name": "data"})
    pv["status"] = {"phase": "Bound"}
    (row,) = tables.to_table(rt.PERSISTENTVOLUMES, [pv])["rows"]
    assert row["cells"][:9] == [
        "pv1",
        "1Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "ns/data",
        "manual",
        "<unset>",
        "",
    ]
    (row,) = tables.to_table(rt.STORAGECLASSES, [localpath_plan.default_class()])["rows"]
    assert row["cells"][:5] == [
        "local-path (default)",
        "minik8s.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
    ]


def test_describe_storage_and_sets() -> None:
    from minik8s.cli.minikctl import describers

    c = claim(cls="local-path", volumeName="pvc-1")
    c["status"] = {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    text = "\n".join(describers.describe(rt.PERSISTENTVOLUMECLAIMS, c, {"used_by": ["web-0"]}))
    assert "Status:\tBound" in text and "Used By:\tweb-0" in text and "Access Modes:\tRWO" in text
    pv = localpath_plan.new_volume(c, localpath_plan.default_class(), node("n1"), "/x")
    text = "\n".join(describers.describe(rt.PERSISTENTVOLUMES, pv, {}))
    assert (
        "Term 0:\tkubernetes.io/hostname in [n1]" in text
        and "HostPathType:\tDirectoryOrCreate" in text
    )
    text = "\n".join(describers.describe(rt.STORAGECLASSES, localpath_plan.default_class(), {}))
    assert "IsDefaultClass:\tYes" in text
