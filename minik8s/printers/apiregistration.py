"""Printers of the `apiregistration.k8s.io` group: APIServices (`kubectl get apiservices`)."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

APISERVICE_COLUMNS = (
    NAME,
    Column("Service", "The service of the extension server, or Local."),
    Column("Available", "Whether the group version answers."),
    AGE,
)


def apiservice_cells(service: Object, now: datetime) -> Cells:
    spec = service.get("spec") or {}
    reference = spec.get("service")
    where = f"{reference.get('namespace')}/{reference.get('name')}" if reference else "Local"
    available = meta.get_condition(service, "Available") or {}
    text = str(available.get("status") or "Unknown")
    if text != "True" and available.get("reason"):
        text = f"{text} ({available['reason']})"
    return [meta.name_of(service), where, text, age(service, now)]
