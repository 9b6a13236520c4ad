"""Objects as a `meta.k8s.io/v1` Table, the way `kubectl get` asks for them
(`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

`PRINTERS` maps each resource type to its columns and cell function; a kind without one gets
Kubernetes' default columns (Name, Created At). Add a kind by adding an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from minik8s.api import meta, resources, times
from minik8s.api.meta import Object
from minik8s.printers import (
    apiregistration,
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    discovery,
    policy,
    rbac,
    storage,
)
from minik8s.printers.columns import NAME, Cells, CellsFunc, Column

INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")

Printer = tuple[tuple[Column, ...], CellsFunc]

PRINTERS: dict[resources.ResourceType, Printer] = {
    resources.PODS: (core.POD_COLUMNS, core.pod_cells),
    resources.NODES: (core.NODE_COLUMNS, core.node_cells),
    resources.SERVICES: (core.SERVICE_COLUMNS, core.service_cells),
    resources.ENDPOINTS: (core.ENDPOINTS_COLUMNS, core.endpoints_cells),
    resources.ENDPOINTSLICES: (discovery.ENDPOINTSLICE_COLUMNS, discovery.endpointslice_cells),
    resources.NAMESPACES: (core.NAMESPACE_COLUMNS, core.namespace_cells),
    resources.EVENTS: (core.EVENT_COLUMNS, core.event_cells),
    resources.CONFIGMAPS: (core.CONFIGMAP_COLUMNS, core.configmap_cells),
    resources.SECRETS: (core.SECRET_COLUMNS, core.secret_cells),
    resources.SERVICEACCOUNTS: (core.SERVICEACCOUNT_COLUMNS, core.serviceaccount_cells),
    resources.REPLICASETS: (apps.REPLICASET_COLUMNS, apps.replicaset_cells),
    resources.DEPLOYMENTS: (apps.DEPLOYMENT_COLUMNS, apps.deployment_cells),
    resources.LEASES: (coordination.LEASE_COLUMNS, coordination.lease_cells),
    resources.DAEMONSETS: (apps.DAEMONSET_COLUMNS, apps.daemonset_cells),
    resources.STATEFULSETS: (apps.STATEFULSET_COLUMNS, apps.statefulset_cells),
    resources.CONTROLLERREVISIONS: (apps.CONTROLLERREVISION_COLUMNS, apps.controllerrevision_cells),
    resources.PERSISTENTVOLUMES: (core.PV_COLUMNS, core.pv_cells),
    resources.PERSISTENTVOLUMECLAIMS: (core.PVC_COLUMNS, core.pvc_cells),
    resources.STORAGECLASSES: (storage.STORAGECLASS_COLUMNS, storage.storageclass_cells),
    resources.REPLICATIONCONTROLLERS: (core.RC_COLUMNS, core.rc_cells),
    resources.JOBS: (batch.JOB_COLUMNS, batch.job_cells),
    resources.CRONJOBS: (batch.CRONJOB_COLUMNS, batch.cronjob_cells),
    resources.PODDISRUPTIONBUDGETS: (policy.PDB_COLUMNS, policy.pdb_cells),
    resources.CERTIFICATESIGNINGREQUESTS: (certificates.CSR_COLUMNS, certificates.csr_cells),
    resources.ROLES: (rbac.ROLE_COLUMNS, rbac.role_cells),
    resources.CLUSTERROLES: (rbac.ROLE_COLUMNS, rbac.role_cells),
    resources.ROLEBINDINGS: (rbac.BINDING_COLUMNS, rbac.binding_cells),
    resources.CLUSTERROLEBINDINGS: (rbac.BINDING_COLUMNS, rbac.binding_cells),
    resources.HORIZONTALPODAUTOSCALERS: (autoscaling.HPA_COLUMNS, autoscaling.hpa_cells),
    resources.HORIZONTALPODAUTOSCALERS_V1: (autoscaling.HPA_COLUMNS, autoscaling.hpa_cells),
    resources.APISERVICES: (apiregistration.APISERVICE_COLUMNS, apiregistration.apiservice_cells),
}

ROW_CONDITIONS: dict[resources.ResourceType, Callable[[Object], list[Object] | None]] = {
    resources.PODS: core.pod_conditions,
}
"""Kinds whose rows carry `conditions` (a finished pod's `Completed`, which kubectl uses to
hide it unless `--show-all`)."""

DEFAULT_COLUMNS = (NAME, Column("Created At", "When the object was created.", type="date"))


def default_cells(obj: Object, now: datetime) -> Cells:
    return [meta.name_of(obj), meta.meta(obj).get("creationTimestamp", "")]


def _row_object(obj: Object, include_object: str) -> Object | None:
    if include_object == "Object":
        return obj
    if include_object == "Metadata":
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta.meta(obj),
        }
    return None


def to_table(
    rt: resources.ResourceType,
    objects: list[Object],
    *,
    list_resource_version: str | None = None,
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of `objects` (all of type `rt`), one row each.

    `include_object` is the `includeObject` query parameter: "Metadata" (the default) puts
    a PartialObjectMetadata in each row, "Object" the whole object, "None" nothing.
    Raises ValueError for any other value (the caller answers 400).
    """
    if include_object not in INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT_CHOICES)}, "
            f"not {include_object!r}"
        )
    moment = now or times.utc_now()
    columns, cells_of = PRINTERS.get(rt, (DEFAULT_COLUMNS, default_cells))
    row_conditions = ROW_CONDITIONS.get(rt)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells_of(obj, moment)}
        if row_conditions is not None and (conditions := row_conditions(obj)):
            row["conditions"] = conditions
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    metadata = {"resourceVersion": list_resource_version} if list_resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [c.as_dict() for c in columns],
        "rows": rows,
    }
