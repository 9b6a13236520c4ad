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
    TEMPLATE_COLUMNS,
    Cells,
    Column,
    age,
    container_cells,
    format_label_selector,
    format_labels,
    label_selector_string,
    replica_cells,
    template_cells,
)

REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "Desired number of pods.", type="integer"),
    Column("Current", "Pods that exist now.", type="integer"),
    Column("Ready", "Pods that are ready.", type="integer"),
    *TEMPLATE_COLUMNS,
)


def replicaset_cells(replicaset: Object, now: datetime) -> Cells:
    spec = meta.spec_of(replicaset)
    selector = format_label_selector(spec.get("selector"))
    return [
        meta.name_of(replicaset),
        *replica_cells(replicaset),
        *template_cells(replicaset, spec.get("template"), selector, now),
    ]


DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "Ready pods out of desired pods."),
    Column("Up-to-date", "Pods that run the current template."),
    Column("Available", "Pods available to serve."),
    *TEMPLATE_COLUMNS,
)


def deployment_cells(deployment: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(deployment), meta.status_of(deployment)
    selector = label_selector_string(spec.get("selector"))
    return [
        meta.name_of(deployment),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        *template_cells(
            deployment, spec.get("template"), "<invalid>" if selector is None else selector, now
        ),
    ]


DAEMONSET_COLUMNS = (
    NAME,
    Column("Desired", "The number of nodes that should be running the daemon pod.", "integer"),
    Column("Current", "The number of nodes running at least one daemon pod.", "integer"),
    Column("Ready", "The number of nodes with a ready daemon pod.", "integer"),
    Column("Up-to-date", "The number of nodes running the updated daemon pod.", "integer"),
    Column("Available", "The number of nodes with an available daemon pod.", "integer"),
    Column("Node Selector", "The node selector of the pod template."),
    *TEMPLATE_COLUMNS,
)


def daemonset_cells(ds: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(ds), meta.status_of(ds)
    template = spec.get("template")
    selector = format_label_selector(spec.get("selector"))
    return [
        meta.name_of(ds),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        format_labels(meta.spec_of(template or {}).get("nodeSelector")),
        *template_cells(ds, template, selector, now),
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
