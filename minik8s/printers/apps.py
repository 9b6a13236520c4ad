"""Printers of the `apps` group: ReplicaSets, Deployments, DaemonSets, StatefulSets and
ControllerRevisions (`kubectl get rs,deploy,ds,sts,controllerrevisions`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    SELECTOR,
    Cells,
    Column,
    age,
    container_cells,
    format_label_selector,
    format_labels,
    label_selector_string,
)

REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "Desired number of pods.", type="integer"),
    Column("Current", "Pods that exist now.", type="integer"),
    Column("Ready", "Pods that are ready.", type="integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def replicaset_cells(replicaset: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(replicaset), meta.status_of(replicaset)
    names, images = container_cells(meta.spec_of(spec.get("template") or {}))
    return [
        meta.name_of(replicaset),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(replicaset, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "Ready pods out of desired pods."),
    Column("Up-to-date", "Pods that run the current template."),
    Column("Available", "Pods available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def deployment_cells(deployment: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(deployment), meta.status_of(deployment)
    names, images = container_cells(meta.spec_of(spec.get("template") or {}))
    selector = label_selector_string(spec.get("selector"))
    return [
        meta.name_of(deployment),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(deployment, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


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
    SELECTOR,
)


def daemonset_cells(ds: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(ds), meta.status_of(ds)
    template_spec = (spec.get("template") or {}).get("spec") or {}
    names, images = container_cells(template_spec)
    return [
        meta.name_of(ds),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        format_labels(template_spec.get("nodeSelector")),
        age(ds, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


STATEFULSET_COLUMNS = (
    NAME,
    Column("Ready", "Number of the pod with ready state out of the desired pods."),
    AGE,
    CONTAINERS,
    IMAGES,
)


def statefulset_cells(sts: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(sts), meta.status_of(sts)
    names, images = container_cells((spec.get("template") or {}).get("spec") or {})
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [meta.name_of(sts), ready, age(sts, now), names, images]


CONTROLLERREVISION_COLUMNS = (
    NAME,
    Column("Controller", "Controller of the object."),
    Column("Revision", "Revision of the ControllerRevision.", "integer"),
    AGE,
)


def controllerrevision_cells(revision: Object, now: datetime) -> Cells:
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
        age(revision, now),
    ]
