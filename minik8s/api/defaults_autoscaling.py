"""Kubernetes' defaulting of HorizontalPodAutoscalers (autoscaling/v2) and APIServices,
registered by `defaults`. Only absent fields are filled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import defaults

DEFAULT_CPU_UTILIZATION = 80
"""The target of an autoscaler that names no metric: 80% of the pods' CPU requests."""
SCALE_DOWN_STABILIZATION_SECONDS = 300


def scale_up_rules(rules: dict[str, Any]) -> None:
    """Up to double, or 4 more pods, every 15 s; no stabilization (GenerateHPAScaleUpRules)."""
    defaults.default(rules, "stabilizationWindowSeconds", 0)
    defaults.default(rules, "selectPolicy", "Max")
    if not rules.get("policies"):
        rules["policies"] = [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ]


def scale_down_rules(rules: dict[str, Any]) -> None:
    """Down to the minimum every 15 s, after 5 minutes (GenerateHPAScaleDownRules)."""
    defaults.default(rules, "stabilizationWindowSeconds", SCALE_DOWN_STABILIZATION_SECONDS)
    defaults.default(rules, "selectPolicy", "Max")
    if not rules.get("policies"):
        rules["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]


def default_horizontal_pod_autoscaler(hpa: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(hpa, "spec")
    if spec is None:
        return
    defaults.default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": DEFAULT_CPU_UTILIZATION,
                    },
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):  # only a given behavior gets its gaps filled
        up = defaults.ensure_dict(behavior, "scaleUp")
        if up is not None:
            scale_up_rules(up)
        down = defaults.ensure_dict(behavior, "scaleDown")
        if down is not None:
            scale_down_rules(down)


def default_api_service(service: dict[str, Any]) -> None:
    spec = defaults.ensure_dict(service, "spec")
    reference = spec.get("service") if spec is not None else None
    if isinstance(reference, dict):
        defaults.default(reference, "port", 443)


DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "HorizontalPodAutoscaler": default_horizontal_pod_autoscaler,
    "APIService": default_api_service,
}
