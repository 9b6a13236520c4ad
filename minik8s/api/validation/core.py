"""Validation of the smaller kinds: Node, Namespace, ConfigMap, Event, Lease and Binding."""

from __future__ import annotations

from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import (
    child,
    index,
    invalid,
    invalid_each,
    items,
    key,
    mapping,
    non_negative,
    required,
    too_long,
    validate_label_name,
)
from minik8s.api.validation.pod import TAINT_EFFECTS

CONFIG_MAP_SIZE_LIMIT = 1024 * 1024
STANDARD_FINALIZERS = {"kubernetes"}


def validate_node_spec(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    pod_cidr = spec.get("podCIDR")
    if pod_cidr:
        causes += invalid_each("spec.podCIDR", pod_cidr, fmt.is_cidr(pod_cidr))
    for i, cidr in enumerate(spec.get("podCIDRs") or []):
        causes += invalid_each(index("spec.podCIDRs", i), cidr, fmt.is_cidr(str(cidr)))
    seen: set[tuple[Any, Any]] = set()
    for i, taint in enumerate(items(spec, "taints")):
        path = index("spec.taints", i)
        causes += validate_label_name(str(taint.get("key") or ""), child(path, "key"))
        value = taint.get("value")
        if value:
            causes += invalid_each(child(path, "value"), value, fmt.is_label_value(value))
        effect = taint.get("effect") or ""
        if not effect:
            causes.append(required(child(path, "effect")))
        elif effect not in TAINT_EFFECTS:
            causes.append(api_errors.not_supported(child(path, "effect"), effect, TAINT_EFFECTS))
        identity = (taint.get("key"), effect)
        if identity in seen:
            causes.append(api_errors.duplicate(path, f"{identity[0]}:{identity[1]}"))
        seen.add(identity)
    return causes


def validate_node_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """spec.podCIDR may go from "" to a value, never change after."""
    old_cidr = mapping(old, "spec").get("podCIDR") or ""
    new_cidr = mapping(new, "spec").get("podCIDR") or ""
    if old_cidr and new_cidr != old_cidr:
        return [
            api_errors.forbidden(
                "spec.podCIDR", 'node updates may not change podCIDR except from "" to valid'
            )
        ]
    return []


def validate_namespace(namespace: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for finalizer in mapping(namespace, "spec").get("finalizers") or []:
        messages = fmt.is_qualified_name(str(finalizer))
        if not messages and "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            messages = ["name is neither a standard finalizer name nor is it fully qualified"]
        causes += invalid_each("spec.finalizers", finalizer, messages)
    return causes


def validate_config_map(config_map: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    data = mapping(config_map, "data")
    binary_data = mapping(config_map, "binaryData")
    for data_key in data:
        causes += invalid_each(key("data", data_key), data_key, fmt.is_config_map_key(data_key))
    for data_key in binary_data:
        causes += invalid_each(
            key("binaryData", data_key), data_key, fmt.is_config_map_key(data_key)
        )
        if data_key in data:
            causes.append(
                invalid(key("binaryData", data_key), data_key, "duplicate of key present in data")
            )
    size = sum(len(k) + len(str(v)) for k, v in [*data.items(), *binary_data.items()])
    if size > CONFIG_MAP_SIZE_LIMIT:
        causes.append(too_long("", CONFIG_MAP_SIZE_LIMIT))
    return causes


def validate_event(event: dict[str, Any]) -> list[Cause]:
    """core/v1 Events: the involved object must be in the event's namespace, if any."""
    involved = event.get("involvedObject")
    if not isinstance(involved, dict):
        return [required("involvedObject")]
    event_namespace = mapping(event, "metadata").get("namespace") or ""
    involved_namespace = involved.get("namespace") or ""
    if involved_namespace and involved_namespace != event_namespace:
        return [
            invalid(
                "involvedObject.namespace", involved_namespace, "does not match event.namespace"
            )
        ]
    return []


def validate_lease(lease: dict[str, Any]) -> list[Cause]:
    spec = mapping(lease, "spec")
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    causes += non_negative("spec.leaseTransitions", spec.get("leaseTransitions"))
    return causes


def validate_binding(binding: dict[str, Any]) -> list[Cause]:
    """A Binding POSTed to `pods/<name>/binding`: its target must name a Node."""
    target = mapping(binding, "target")
    causes: list[Cause] = []
    if target.get("kind") and target["kind"] != "Node":
        causes.append(api_errors.not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not target.get("name"):
        causes.append(required("target.name"))
    return causes
