"""Printers of the `autoscaling` group: HorizontalPodAutoscalers (`kubectl get hpa`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

MAX_SHOWN_METRICS = 2

HPA_COLUMNS = (
    NAME,
    Column("Reference", "The object being scaled."),
    Column("Targets", "The current and target values of the metrics."),
    Column("MinPods", "The lower bound of replicas."),
    Column("MaxPods", "The upper bound of replicas.", "integer"),
    Column("Replicas", "The current number of replicas.", "integer"),
    AGE,
)


def _metric_text(spec: Object, current: Object | None) -> str:
    kind = spec.get("type")
    if kind in ("Resource", "ContainerResource"):
        source = spec.get("resource" if kind == "Resource" else "containerResource") or {}
        target = source.get("target") or {}
        now = (
            (current or {}).get("resource" if kind == "Resource" else "containerResource") or {}
        ).get("current") or {}
        name = source.get("name", "")
        if target.get("type") == "Utilization":
            shown = f"{now['averageUtilization']}%" if "averageUtilization" in now else "<unknown>"
            return f"{name}: {shown}/{target.get('averageUtilization')}%"
        wanted = target.get("averageValue") or target.get("value")
        shown = str(now.get("averageValue") or now.get("value") or "<unknown>")
        return f"{name}: {shown}/{wanted}"
    return "<unknown>/<unknown>"


def hpa_targets(hpa: Object) -> str:
    metrics = (hpa.get("spec") or {}).get("metrics") or []
    if not metrics:
        return "<none>"
    current = (hpa.get("status") or {}).get("currentMetrics") or []
    texts = [
        _metric_text(metric, current[i] if i < len(current) else None)
        for i, metric in enumerate(metrics)
    ]
    shown = ", ".join(texts[:MAX_SHOWN_METRICS])
    if len(texts) > MAX_SHOWN_METRICS:
        shown += f" + {len(texts) - MAX_SHOWN_METRICS} more..."
    return shown


def hpa_cells(hpa: Object, now: datetime) -> Cells:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    minimum: Any = spec.get("minReplicas")
    return [
        meta.name_of(hpa),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        hpa_targets(hpa),
        minimum if minimum is not None else "<unset>",
        spec.get("maxReplicas", 0),
        status.get("currentReplicas", 0),
        age(hpa, now),
    ]
