"""Validation of ReplicaSets, Deployments and the Scale subresource."""

from __future__ import annotations

from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import selectors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import (
    child,
    immutable,
    invalid,
    invalid_each,
    mapping,
    non_negative,
    required,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
)
from minik8s.api.validation.pod import validate_pod_spec

STRATEGY_TYPES = ["Recreate", "RollingUpdate"]


def validate_replica_set_spec(spec: dict[str, Any]) -> list[Cause]:
    causes = validate_workload_spec(spec)
    causes += non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    return causes


def validate_deployment_spec(spec: dict[str, Any]) -> list[Cause]:
    causes = validate_workload_spec(spec)
    min_ready = spec.get("minReadySeconds")
    causes += non_negative("spec.minReadySeconds", min_ready)
    causes += non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        causes += non_negative("spec.progressDeadlineSeconds", deadline)
        if isinstance(min_ready, int) and deadline <= min_ready:
            causes.append(
                invalid(
                    "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
                )
            )
    strategy = spec.get("strategy")
    if isinstance(strategy, dict):
        causes += _validate_strategy(strategy, "spec.strategy")
    return causes


def validate_selector_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """apps/v1 selectors are immutable."""
    new_selector = mapping(new, "spec").get("selector")
    return immutable("spec.selector", new_selector, mapping(old, "spec").get("selector"))


def validate_scale(scale: dict[str, Any]) -> list[Cause]:
    """A Scale sent to `<resource>/<name>/scale`."""
    causes = validate_object_meta(mapping(scale, "metadata"), True, fmt.name_is_dns_subdomain)
    causes += non_negative("spec.replicas", mapping(scale, "spec").get("replicas"))
    return causes


def validate_workload_spec(spec: dict[str, Any], kind: str = "ReplicaSet") -> list[Cause]:
    """What the workload kinds share: replicas, selector, and a matching template.

    `kind` words the messages as Kubernetes does for each (ReplicaSets and Deployments say
    "deployment" for an empty selector, DaemonSets "daemonset", StatefulSets "statefulset")."""
    selector_word = "deployment" if kind in ("ReplicaSet", "Deployment") else kind.lower()
    causes = non_negative("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        causes.append(required("spec.selector"))
    else:
        causes += validate_label_selector(selector, "spec.selector")
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(
                invalid("spec.selector", selector, f"empty selector is invalid for {selector_word}")
            )
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(required("spec.template"))
        return causes
    labels = mapping(mapping(template, "metadata"), "labels")
    if isinstance(selector, dict):
        causes += _validate_selector_matches(selector, labels)
    causes += validate_labels(labels, "spec.template.metadata.labels")
    causes += validate_template_pod_spec(template, kind)
    return causes


def validate_template_pod_spec(template: dict[str, Any], kind: str) -> list[Cause]:
    """`spec.template.spec` of a kind whose pods run until replaced (ReplicaSet, Deployment,
    DaemonSet, StatefulSet, ReplicationController): a valid pod spec, `restartPolicy: Always`
    and no `activeDeadlineSeconds`."""
    pod_spec = mapping(template, "spec")
    if not pod_spec:
        return [required("spec.template.spec.containers")]
    causes = validate_pod_spec(pod_spec, "spec.template.spec")
    restart_policy = pod_spec.get("restartPolicy")
    if restart_policy is not None and restart_policy != "Always":
        causes.append(
            api_errors.not_supported("spec.template.spec.restartPolicy", restart_policy, ["Always"])
        )
    if pod_spec.get("activeDeadlineSeconds") is not None:
        causes.append(
            api_errors.forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                f"activeDeadlineSeconds in {kind} is not Supported",
            )
        )
    return causes


def _validate_selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> list[Cause]:
    try:
        parsed = selectors.label_selector_from_object(selector)
    except selectors.InvalidSelector:
        return [invalid("spec.selector", selector, "invalid label selector")]
    if not parsed.empty and not parsed.matches(labels):
        return [
            invalid(
                "spec.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        ]
    return []


def _validate_strategy(strategy: dict[str, Any], path: str) -> list[Cause]:
    strategy_type = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "Recreate":
        if rolling is not None:
            return [
                api_errors.forbidden(
                    child(path, "rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            ]
        return []
    if strategy_type not in (None, "RollingUpdate"):
        return [api_errors.not_supported(child(path, "type"), strategy_type, STRATEGY_TYPES)]
    if not isinstance(rolling, dict):
        return []
    return validate_rolling_numbers(rolling, child(path, "rollingUpdate"))


def validate_rolling_numbers(rolling: dict[str, Any], path: str) -> list[Cause]:
    """maxUnavailable and maxSurge: int or percent, not both 0, unavailable at most 100%."""
    max_unavailable = rolling.get("maxUnavailable")
    max_surge = rolling.get("maxSurge")
    causes = _validate_int_or_percent(max_unavailable, child(path, "maxUnavailable"))
    causes += _validate_int_or_percent(max_surge, child(path, "maxSurge"))
    # Both absent means "not defaulted yet", not zero.
    both_set = max_unavailable is not None and max_surge is not None
    if both_set and _int_or_percent_value(max_unavailable) == _int_or_percent_value(max_surge) == 0:
        causes.append(
            invalid(
                child(path, "maxUnavailable"), max_unavailable, "may not be 0 when `maxSurge` is 0"
            )
        )
    if isinstance(max_unavailable, str) and _int_or_percent_value(max_unavailable) > 100:
        causes.append(
            invalid(child(path, "maxUnavailable"), max_unavailable, "must not be greater than 100%")
        )
    return causes


def _validate_int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        return invalid_each(path, value, fmt.is_valid_percent(value))
    return non_negative(path, value)


def _int_or_percent_value(value: Any) -> int:
    """The number in 3 or "3%" (0 when absent or malformed, as Kubernetes reads it)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not fmt.is_valid_percent(value):
        return int(value[:-1])
    return 0
