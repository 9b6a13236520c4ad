"""The local-path provisioner's decisions, pure (after k3s's local-path-provisioner): the
default StorageClass, the directory-backed volume of a claim on its node, and the helper pod
that removes a deleted volume's data on that node.

A provisioned volume is a `hostPath` PersistentVolume of type DirectoryOrCreate under the
provisioner's root (`<root>/pvc-<uid>_<namespace>_<claim>`), pinned by node affinity to the
node the scheduler chose. The kubelet creates the directory when it first mounts it: the
first consumer is always a pod on that node, so creating on mount costs no extra pod and no
extra wait. Removing the data has no consumer pod to ride on, so, like k3s, a short-lived
helper pod on that node runs `rm -rf` on the directory.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from minik8s.api import meta, storageutil
from minik8s.api.meta import Object

PROVISIONER = "minik8s.io/local-path"
DEFAULT_CLASS_NAME = "local-path"
HOSTNAME_LABEL = "kubernetes.io/hostname"
HELPER_LABEL = "minik8s.io/local-path-helper"
"""On helper pods: the name of the volume whose data they remove."""
NO_NODE = "configuration error, no node was specified"
CREATE = "DirectoryOrCreate"


def default_class() -> Object:
    """The StorageClass k3s ships, marked default, with this provisioner."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": DEFAULT_CLASS_NAME,
            "annotations": {storageutil.IS_DEFAULT_CLASS: "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": storageutil.WAIT_FOR_FIRST_CONSUMER,
    }


def volume_name(claim: Mapping[str, Any]) -> str:
    return f"pvc-{meta.uid_of(claim)}"


def directory(root: str, claim: Mapping[str, Any]) -> str:
    name = f"{volume_name(claim)}_{meta.namespace_of(claim)}_{meta.name_of(claim)}"
    return posixpath.join(root, name)


def wants_provisioning(claim: Mapping[str, Any], sc: Mapping[str, Any] | None) -> bool:
    """An unbound claim the binder handed to this provisioner."""
    if sc is None or sc.get("provisioner") != PROVISIONER or meta.is_deleting(claim):
        return False
    if (claim.get("spec") or {}).get("volumeName"):
        return False
    annotations = meta.annotations_of(claim)
    return annotations.get(storageutil.STORAGE_PROVISIONER) == PROVISIONER


def new_volume(
    claim: Mapping[str, Any], sc: Mapping[str, Any], node: Mapping[str, Any], root: str
) -> Object:
    """The volume for `claim` on `node`, pre-bound to the claim."""
    node_name = meta.name_of(node)
    hostname = meta.labels_of(node).get(HOSTNAME_LABEL, node_name)
    spec = claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name(claim),
            "annotations": {
                storageutil.PROVISIONED_BY: PROVISIONER,
                storageutil.SELECTED_NODE: node_name,
            },
        },
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": list(spec.get("accessModes") or []),
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": meta.name_of(sc),
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.namespace_of(claim),
                "name": meta.name_of(claim),
                "uid": meta.uid_of(claim),
                "resourceVersion": meta.resource_version_of(claim),
            },
            "hostPath": {"path": directory(root, claim), "type": CREATE},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [
                            {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}
                        ]}
                    ]
                }
            },
        },
    }  # fmt: skip


def is_ours(pv: Mapping[str, Any]) -> bool:
    return meta.annotations_of(pv).get(storageutil.PROVISIONED_BY) == PROVISIONER


def needs_deleting(pv: Mapping[str, Any]) -> bool:
    """Released with reclaim policy Delete: its data and then the object go."""
    spec = pv.get("spec") or {}
    return (
        is_ours(pv)
        and (pv.get("status") or {}).get("phase") == "Released"
        and spec.get("persistentVolumeReclaimPolicy") == "Delete"
    )


def node_of(pv: Mapping[str, Any]) -> str:
    return meta.annotations_of(pv).get(storageutil.SELECTED_NODE, "")


def helper_name(pv: Mapping[str, Any]) -> str:
    return f"helper-pod-delete-{meta.name_of(pv)}"


def helper_pod(pv: Mapping[str, Any], namespace: str, image: str) -> Object:
    """A pod on the volume's node that removes its directory, then exits."""
    path = str(((pv.get("spec") or {}).get("hostPath") or {}).get("path") or "")
    parent, leaf = posixpath.split(path.rstrip("/"))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": helper_name(pv),
            "namespace": namespace,
            "labels": {HELPER_LABEL: meta.name_of(pv)},
        },
        "spec": {
            "nodeName": node_of(pv),
            "restartPolicy": "Never",
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "helper",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["rm", "-rf", f"/data/{leaf}"],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }],
            "volumes": [{"name": "data", "hostPath": {"path": parent, "type": CREATE}}],
        },
    }  # fmt: skip
