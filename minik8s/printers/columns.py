"""Column definitions and cell formatting shared by every kind's printer (pure).

Columns and cell rules follow the Kubernetes printers (`pkg/printers/internalversion`). Like
the real apiserver, every row carries all columns, `-o wide` ones (priority 1) included;
kubectl hides those unless asked. Cells are computed against an injectable `now`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minik8s.api import meta, selectors, times
from minik8s.api.meta import Object

Cells = list[Any]
CellsFunc = Callable[[Object, datetime], Cells]


@dataclass(frozen=True)
class Column:
    """A `TableColumnDefinition`."""

    name: str
    description: str
    type: str = "string"
    format: str = ""
    priority: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME = Column("Name", "Name of the object, unique within its namespace.", format="name")
AGE = Column("Age", "Time since the object was created.")
CONTAINERS = Column("Containers", "Names of each container in the template.", priority=1)
IMAGES = Column("Images", "Images referenced by each container in the template.", priority=1)
SELECTOR = Column("Selector", "The label selector of the pods.", priority=1)
TEMPLATE_COLUMNS = (AGE, CONTAINERS, IMAGES, SELECTOR)
"""The last columns of every kind that owns a pod template (ReplicaSet, Job, ...)."""


def age(obj: Mapping[str, Any], now: datetime) -> str:
    """The `Age` cell: time since `creationTimestamp`, as kubectl prints it."""
    return times.since(meta.meta(obj).get("creationTimestamp"), now)


def format_labels(labels: Mapping[str, str] | None) -> str:
    """A label map as `a=1,b=2` (sorted by key), or `<none>`."""
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def label_selector_string(selector: Mapping[str, Any] | None) -> str | None:
    """A `metav1.LabelSelector` in selector syntax (`app=web,tier in (a,b),!legacy`); "" when it
    has no requirements; None when it does not convert (an unknown operator, a bad value)."""
    try:
        return str(selectors.label_selector_from_object(selector))
    except selectors.InvalidSelector:
        return None


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """`metav1.FormatLabelSelector`: the selector text, `<none>` or `<error>`."""
    text = label_selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def container_cells(template_spec: Mapping[str, Any]) -> tuple[str, str]:
    """The `Containers` and `Images` cells of a pod template's spec."""
    containers = template_spec.get("containers") or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def template_cells(
    obj: Mapping[str, Any], template: Mapping[str, Any] | None, selector: str, now: datetime
) -> Cells:
    """The `TEMPLATE_COLUMNS` cells: the object's age, its pod `template`'s containers and
    images, and the `selector` text."""
    names, images = container_cells(meta.spec_of(template or {}))
    return [age(obj, now), names, images, selector]


def replica_cells(obj: Mapping[str, Any]) -> Cells:
    """The `Desired`, `Current` and `Ready` cells of a ReplicaSet or ReplicationController."""
    spec, status = meta.spec_of(obj), meta.status_of(obj)
    return [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0)]


def join_host_port(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = ":" in host
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def with_more(items: list[str], total: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    return f"{text} + {total - limit} more..." if total > limit else text
