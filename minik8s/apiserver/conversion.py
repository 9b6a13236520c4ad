"""Conversion between the served versions of a kind and its stored version.

Two kinds are served in a version other than the one stored, as in Kubernetes:

- autoscaling/v1 HorizontalPodAutoscalers are stored as autoscaling/v2: the v1 form has only
  `targetCPUUtilizationPercentage`; what v1 cannot say (other metrics, behavior, conditions,
  current metrics) travels in `autoscaling.alpha.kubernetes.io/*` annotations, so a v1 round
  trip loses nothing;
- events.k8s.io/v1 Events are core/v1 Events (`regarding` is `involvedObject`, `note` is
  `message`, `reportingController` is `reportingComponent`, the old source and timestamps
  are `deprecated*`).

Pure functions over dicts; the registry converts requests in and answers out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors, resources, times
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType

METRICS = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
HPA_ANNOTATIONS = (METRICS, BEHAVIOR, CONDITIONS, CURRENT_METRICS)


@dataclass(frozen=True)
class Converter:
    served: ResourceType
    storage: ResourceType
    to_storage: Callable[[Object], Object]
    from_storage: Callable[[Object], Object]


def _meta(obj: Object) -> Object:
    metadata = obj.get("metadata")
    return copy.deepcopy(metadata) if isinstance(metadata, dict) else {}


def _type_meta(rt: ResourceType) -> Object:
    return {"apiVersion": rt.api_version, "kind": rt.kind}


# --- autoscaling/v1 <-> v2 --------------------------------------------------------------------


def _is_cpu_utilization(metric: Any) -> bool:
    resource = (metric or {}).get("resource") or {}
    target = resource.get("target") or {}
    return (
        metric.get("type") == "Resource"
        and resource.get("name") == "cpu"
        and target.get("type") == "Utilization"
    )


def hpa_to_v1(obj: Object) -> Object:
    metadata = _meta(obj)
    annotations = dict(metadata.get("annotations") or {})
    spec = obj.get("spec") or {}
    v1_spec: Object = {"scaleTargetRef": spec.get("scaleTargetRef", {})}
    if "minReplicas" in spec:
        v1_spec["minReplicas"] = spec["minReplicas"]
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    others = []
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in v1_spec:
            utilization = metric["resource"]["target"].get("averageUtilization")
            if utilization is not None:
                v1_spec["targetCPUUtilizationPercentage"] = utilization
                continue
        others.append(metric)
    _annotate(annotations, METRICS, others)
    _annotate(annotations, BEHAVIOR, spec.get("behavior"))
    status = obj.get("status") or {}
    v1_status: Object = {}
    for key in ("observedGeneration", "lastScaleTime"):
        if key in status:
            v1_status[key] = status[key]
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current_others = []
    for metric in status.get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        current = resource.get("current") or {}
        if (
            metric.get("type") == "Resource"
            and resource.get("name") == "cpu"
            and "averageUtilization" in current
            and "currentCPUUtilizationPercentage" not in v1_status
        ):
            v1_status["currentCPUUtilizationPercentage"] = current["averageUtilization"]
        else:
            current_others.append(metric)
    _annotate(annotations, CONDITIONS, status.get("conditions"))
    _annotate(annotations, CURRENT_METRICS, current_others)
    if annotations:
        metadata["annotations"] = annotations
    out: Object = {**_type_meta(resources.HORIZONTALPODAUTOSCALERS_V1), "metadata": metadata}
    out["spec"] = v1_spec
    if "status" in obj:
        out["status"] = v1_status
    return out


def _annotate(annotations: Object, key: str, value: Any) -> None:
    if value:
        annotations[key] = json.dumps(value, separators=(",", ":"))


def _from_annotation(annotations: Object, key: str) -> Any:
    text = annotations.pop(key, None)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise errors.invalid_object(
            "HorizontalPodAutoscaler",
            "",
            [errors.invalid(f"metadata.annotations[{key}]", text, "must be JSON")],
            "autoscaling",
        ) from e


def hpa_from_v1(obj: Object) -> Object:
    metadata = _meta(obj)
    annotations = dict(metadata.get("annotations") or {})
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    v2_spec: Object = {}
    for key in ("scaleTargetRef", "minReplicas", "maxReplicas"):
        if key in spec:
            v2_spec[key] = spec[key]
    metrics = []
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        )
    metrics += _from_annotation(annotations, METRICS) or []
    if metrics:
        v2_spec["metrics"] = metrics
    behavior = _from_annotation(annotations, BEHAVIOR)
    if behavior:
        v2_spec["behavior"] = behavior
    conditions = _from_annotation(annotations, CONDITIONS)
    current_others = _from_annotation(annotations, CURRENT_METRICS) or []
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    out: Object = {**_type_meta(resources.HORIZONTALPODAUTOSCALERS), "metadata": metadata}
    out["spec"] = v2_spec
    status = obj.get("status")
    if isinstance(status, dict):
        v2_status: Object = {
            k: status[k]
            for k in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
            if k in status
        }
        current = []
        if status.get("currentCPUUtilizationPercentage") is not None:
            current.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {
                            "averageUtilization": status["currentCPUUtilizationPercentage"]
                        },
                    },
                }
            )
        current += current_others
        if current:
            v2_status["currentMetrics"] = current
        if conditions:
            v2_status["conditions"] = conditions
        out["status"] = v2_status
    return out


# --- events.k8s.io/v1 <-> core/v1 -------------------------------------------------------------

_EVENT_RENAMES = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)
_EVENT_SAME = ("eventTime", "series", "reportingInstance", "action", "reason", "related", "type")


def event_to_v1(obj: Object) -> Object:
    out: Object = {**_type_meta(resources.EVENTS_V1), "metadata": _meta(obj)}
    for key in _EVENT_SAME:
        if obj.get(key) not in (None, ""):
            out[key] = copy.deepcopy(obj[key])
    for core_key, events_key in _EVENT_RENAMES:
        value = obj.get(core_key)
        if value not in (None, "", {}, 0):
            out[events_key] = copy.deepcopy(value)
    if not out.get("eventTime"):
        # Deliberate: Kubernetes leaves a core Event's zero eventTime null here, which clients
        # that require the field (the Python client's EventsV1Event) cannot decode.
        first = obj.get("firstTimestamp") or out["metadata"].get("creationTimestamp")
        moment = times.parse_time(first)
        if moment is not None:
            out["eventTime"] = times.format_micro_time(moment)
    return out


def event_from_v1(obj: Object) -> Object:
    out: Object = {**_type_meta(resources.EVENTS), "metadata": _meta(obj)}
    for key in _EVENT_SAME:
        if key in obj:
            out[key] = copy.deepcopy(obj[key])
    for core_key, events_key in _EVENT_RENAMES:
        if events_key in obj:
            out[core_key] = copy.deepcopy(obj[events_key])
    out.setdefault("involvedObject", {})
    return out


def validate_event_v1(obj: Object) -> list[errors.Cause]:
    """What events.k8s.io/v1 requires of a new Event beyond core/v1's checks."""
    causes = []
    for key in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not obj.get(key):
            causes.append(errors.required(key))
    for key, limit in (("action", 128), ("reason", 128), ("note", 1024)):
        value = obj.get(key)
        if isinstance(value, str) and len(value) > limit:
            causes.append(
                errors.Cause(
                    key, f"Too long: may not be more than {limit} bytes", "FieldValueTooLong"
                )
            )
    if obj.get("type") not in (None, "Normal", "Warning"):
        causes.append(errors.not_supported("type", obj.get("type"), ["Normal", "Warning"]))
    return causes


CONVERTERS: dict[ResourceType, Converter] = {
    resources.HORIZONTALPODAUTOSCALERS_V1: Converter(
        resources.HORIZONTALPODAUTOSCALERS_V1,
        resources.HORIZONTALPODAUTOSCALERS,
        hpa_from_v1,
        hpa_to_v1,
    ),
    resources.EVENTS_V1: Converter(
        resources.EVENTS_V1, resources.EVENTS, event_from_v1, event_to_v1
    ),
}


def converter(resource: ResourceType) -> Converter | None:
    """The conversion of a served version other than the stored one, else None."""
    return CONVERTERS.get(resource)
