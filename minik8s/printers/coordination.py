"""Printers of the `coordination.k8s.io` group: Leases."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

LEASE_COLUMNS = (NAME, Column("Holder", "The current holder of the lease."), AGE)


def lease_cells(lease: Object, now: datetime) -> Cells:
    holder = meta.spec_of(lease).get("holderIdentity") or ""
    return [meta.name_of(lease), holder, age(lease, now)]
