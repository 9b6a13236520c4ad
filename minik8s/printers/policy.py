"""Printers of the `policy` group: PodDisruptionBudgets (`kubectl get pdb`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

PDB_COLUMNS = (
    NAME,
    Column(
        "Min Available", "The minimum number or percentage of available pods this budget requires."
    ),
    Column(
        "Max Unavailable",
        "The maximum number or percentage of unavailable pods this budget allows.",
    ),
    Column(
        "Allowed Disruptions",
        "Calculates the maximum number of pods that can be disrupted at this time.",
        type="integer",
    ),
    AGE,
)


def pdb_cells(pdb: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(pdb), meta.status_of(pdb)
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    return [
        meta.name_of(pdb),
        "N/A" if min_available is None else str(min_available),
        "N/A" if max_unavailable is None else str(max_unavailable),
        status.get("disruptionsAllowed", 0),
        age(pdb, now),
    ]
