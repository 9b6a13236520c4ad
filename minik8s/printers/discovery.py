"""Printers of the `discovery.k8s.io` group: EndpointSlices (kubectl's columns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age, with_more

ENDPOINTSLICE_COLUMNS = (
    NAME,
    Column("AddressType", "Type of address contained in this endpoint slice."),
    Column("Ports", "Enumerated ports on this endpoint slice."),
    Column("Endpoints", "Addresses of endpoints in this endpoint slice."),
    AGE,
)


def endpointslice_cells(slice_: Object, now: datetime) -> Cells:
    ports = [_port_text(port) for port in _entries(slice_, "ports")]
    addresses = [
        str(address)
        for endpoint in _entries(slice_, "endpoints")
        for address in endpoint.get("addresses") or []
    ]
    return [
        meta.name_of(slice_),
        str(slice_.get("addressType") or ""),
        with_more(ports, len(ports)) or "<unset>",
        with_more(addresses, len(addresses)) or "<unset>",
        age(slice_, now),
    ]


def _port_text(port: dict[str, Any]) -> str:
    """The number, else the name, else `*` (a port of any number)."""
    if port.get("port") is not None:
        return str(port["port"])
    return str(port.get("name") or "*")


def _entries(obj: Object, field: str) -> list[dict[str, Any]]:
    return [e for e in obj.get(field) or [] if isinstance(e, dict)]
