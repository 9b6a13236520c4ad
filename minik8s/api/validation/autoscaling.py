"""Validation of HorizontalPodAutoscalers (autoscaling/v2, as stored) and APIServices, with
Kubernetes' field paths and messages; registered by `validation`."""

from __future__ import annotations

from collections.abc import Callable

from minik8s.api import quantity
from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.validation import meta

METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
TARGET_TYPES = ["AverageValue", "Utilization", "Value"]
SELECT_POLICIES = ["Disabled", "Max", "Min"]
POLICY_TYPES = ["Percent", "Pods"]
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_SECONDS = 3600


def validate_horizontal_pod_autoscaler(hpa: Object) -> list[Cause]:
    spec = meta.mapping(hpa, "spec")
    causes: list[Cause] = []
    ref = meta.mapping(spec, "scaleTargetRef")
    for key in ("kind", "name"):
        if not ref.get(key):
            causes.append(meta.required(f"spec.scaleTargetRef.{key}"))
    minimum = spec.get("minReplicas", 1)
    maximum = spec.get("maxReplicas", 0)
    if isinstance(minimum, int) and minimum < 1:
        causes.append(
            meta.invalid("spec.minReplicas", minimum, "must be greater than or equal to 1")
        )
    if isinstance(maximum, int) and isinstance(minimum, int) and maximum < minimum:
        causes.append(
            meta.invalid(
                "spec.maxReplicas", maximum, "must be greater than or equal to `minReplicas`"
            )
        )
    for i, metric in enumerate(meta.items(spec, "metrics")):
        causes += _metric(metric, f"spec.metrics[{i}]")
    behavior = meta.mapping(spec, "behavior")
    for direction in ("scaleUp", "scaleDown"):
        if direction in behavior:
            causes += _rules(meta.mapping(behavior, direction), f"spec.behavior.{direction}")
    return causes


def _metric(metric: Object, path: str) -> list[Cause]:
    kind = metric.get("type")
    causes = (
        meta.enum(f"{path}.type", kind, METRIC_TYPES) if kind else [meta.required(f"{path}.type")]
    )
    if kind in ("Resource", "ContainerResource"):
        field = "resource" if kind == "Resource" else "containerResource"
        source = metric.get(field)
        if not isinstance(source, dict):
            return [
                *causes,
                meta.required(
                    f"{path}.{field}", "must populate information for the given metric source"
                ),
            ]
        if not source.get("name"):
            causes.append(meta.required(f"{path}.{field}.name"))
        if kind == "ContainerResource" and not source.get("container"):
            causes.append(meta.required(f"{path}.{field}.container"))
        causes += _target(meta.mapping(source, "target"), f"{path}.{field}.target")
    return causes


def _target(target: Object, path: str) -> list[Cause]:
    kind = target.get("type")
    if not kind:
        return [meta.required(f"{path}.type")]
    causes = meta.enum(f"{path}.type", kind, TARGET_TYPES)
    if kind == "Utilization":
        value = target.get("averageUtilization")
        if value is None:
            causes.append(
                meta.required(
                    f"{path}.averageUtilization",
                    "must set either a target raw value or a target utilization",
                )
            )
        elif isinstance(value, int) and value <= 0:
            causes.append(
                meta.invalid(f"{path}.averageUtilization", value, "must be greater than 0")
            )
    for key in ("value", "averageValue"):
        if key in target:
            try:
                if quantity.parse_quantity(target[key]) <= 0:
                    causes.append(meta.invalid(f"{path}.{key}", target[key], "must be positive"))
            except ValueError as e:
                causes.append(meta.invalid(f"{path}.{key}", target[key], str(e)))
    return causes


def _rules(rules: Object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and not 0 <= window <= MAX_STABILIZATION_SECONDS:
        causes.append(
            meta.invalid(
                f"{path}.stabilizationWindowSeconds", window,
                f"must be less than or equal to {MAX_STABILIZATION_SECONDS}" if window > 0
                else "must be greater than or equal to zero",
            )
        )  # fmt: skip
    causes += meta.enum(f"{path}.selectPolicy", rules.get("selectPolicy"), SELECT_POLICIES)
    policies = meta.items(rules, "policies")
    if "policies" in rules and not policies and rules.get("selectPolicy") != "Disabled":
        causes.append(meta.required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        where = f"{path}.policies[{i}]"
        causes += meta.enum(f"{where}.type", policy.get("type"), POLICY_TYPES)
        value = policy.get("value")
        if isinstance(value, int) and value <= 0:
            causes.append(meta.invalid(f"{where}.value", value, "must be greater than zero"))
        period = policy.get("periodSeconds")
        if isinstance(period, int) and not 0 < period <= MAX_PERIOD_SECONDS:
            causes.append(
                meta.invalid(
                    f"{where}.periodSeconds", period,
                    "must be greater than zero" if period <= 0
                    else f"must be less than or equal to {MAX_PERIOD_SECONDS}",
                )
            )  # fmt: skip
    return causes


def validate_api_service(service: Object) -> list[Cause]:
    """kube-aggregator's checks: the name is `<version>.<group>`, priorities in range, a
    Service reference complete, no caBundle with insecureSkipTLSVerify."""
    spec = meta.mapping(service, "spec")
    name = meta.mapping(service, "metadata").get("name") or ""
    group, version = spec.get("group") or "", spec.get("version") or ""
    causes: list[Cause] = []
    if not version:
        causes.append(meta.required("spec.version"))
    expected = f"{version}.{group}"
    if name != expected:
        causes.append(
            meta.invalid(
                "metadata.name", name, f'must be `spec.version+"."+spec.group`: "{expected}"'
            )
        )
    minimum = spec.get("groupPriorityMinimum")
    if isinstance(minimum, int) and not 0 < minimum <= 20000:
        causes.append(
            meta.invalid(
                "spec.groupPriorityMinimum", minimum, "must be positive and less than 20000"
            )
        )
    priority = spec.get("versionPriority")
    if isinstance(priority, int) and not 0 < priority <= 1000:
        causes.append(
            meta.invalid("spec.versionPriority", priority, "must be positive and less than 1000")
        )
    reference = spec.get("service")
    if isinstance(reference, dict):
        for key in ("namespace", "name"):
            if not reference.get(key):
                causes.append(meta.required(f"spec.service.{key}"))
        port = reference.get("port", 443)
        if isinstance(port, int) and not 0 < port < 65536:
            causes.append(meta.invalid("spec.service.port", port, "must be a valid port number"))
    if spec.get("insecureSkipTLSVerify") and spec.get("caBundle"):
        causes.append(
            meta.invalid(
                "spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"
            )
        )
    return causes


SEMANTIC_CHECKS: dict[str, Callable[[Object], list[Cause]]] = {
    "HorizontalPodAutoscaler": validate_horizontal_pod_autoscaler,
    "APIService": validate_api_service,
}
