"""Printers of the `apps` group: ReplicaSets and Deployments (`kubectl get rs,deploy`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import (
    AGE,
    NAME,
    Cells,
    Column,
    age,
    container_cells,
    format_label_selector,
    label_selector_string,
)

CONTAINERS = Column("Containers", "Names of each container in the template.", priority=1)
IMAGES = Column("Images", "Images referenced by each container in the template.", priority=1)
SELECTOR = Column("Selector", "The label selector of the pods.", priority=1)

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
