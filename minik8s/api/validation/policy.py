"""Validation of PodDisruptionBudgets and Evictions (pkg/apis/policy/validation)."""

from __future__ import annotations

from typing import Any

from minik8s.api.errors import Cause
from minik8s.api.meta import Object
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import (
    child,
    enum,
    invalid,
    invalid_each,
    mapping,
    non_negative,
    validate_label_selector,
)

UNHEALTHY_POD_EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


def validate_pdb(pdb: Object) -> list[Cause]:
    spec = mapping(pdb, "spec")
    causes: list[Cause] = []
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        causes.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    causes += _int_or_percent(min_available, "spec.minAvailable")
    causes += _int_or_percent(max_unavailable, "spec.maxUnavailable")
    selector = spec.get("selector")
    if isinstance(selector, dict):
        causes += validate_label_selector(selector, "spec.selector")
    causes += enum(
        "spec.unhealthyPodEvictionPolicy",
        spec.get("unhealthyPodEvictionPolicy"),
        UNHEALTHY_POD_EVICTION_POLICIES,
    )
    return causes


def _int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        causes = invalid_each(path, value, fmt.is_valid_percent(value))
        if not causes and int(value[:-1]) > 100:
            causes.append(invalid(path, value, "must not be greater than 100%"))
        return causes
    return non_negative(path, value)


def validate_eviction(eviction: Object) -> list[Cause]:
    options = mapping(eviction, "deleteOptions")
    causes = non_negative(
        child("deleteOptions", "gracePeriodSeconds"), options.get("gracePeriodSeconds")
    )
    causes += enum(
        "deleteOptions.propagationPolicy",
        options.get("propagationPolicy"),
        ["Background", "Foreground", "Orphan"],
    )
    return causes
