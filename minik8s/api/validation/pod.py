"""Validation of Pods and pod specs (also the templates of ReplicaSets and Deployments)."""

from __future__ import annotations

import copy
from typing import Any

from minik8s.api import defaults
from minik8s.api import errors as api_errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation import projected as projected
from minik8s.api.validation import security
from minik8s.api.validation.container import validate_container
from minik8s.api.validation.dns import validate_pod_dns
from minik8s.api.validation.meta import (
    child,
    enum,
    index,
    invalid,
    invalid_each,
    items,
    mapping,
    required,
    unique_label_name,
    validate_label_name,
    validate_labels,
    validate_selector_requirement,
)

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
# Checked in this order, like Kubernetes, so the second source is the one reported.
VOLUME_SOURCES = defaults.VOLUME_SOURCES
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def validate_pod_spec(spec: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    volumes, volume_causes = _validate_volumes(items(spec, "volumes"), child(path, "volumes"))
    causes += volume_causes
    container_names: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, container in enumerate(items(spec, field)):
            causes += validate_container(
                container,
                index(child(path, field), i),
                volumes,
                container_names,
                field == "initContainers",
                bool(spec.get("hostNetwork")),
                spec.get("terminationGracePeriodSeconds"),
            )
    if not items(spec, "containers"):
        causes.append(required(child(path, "containers")))
    causes += _validate_ephemeral_containers(spec, path, volumes, container_names)
    causes += security.validate_pod_security_context(spec, path)
    causes += enum(child(path, "restartPolicy"), spec.get("restartPolicy"), RESTART_POLICIES)
    causes += enum(child(path, "dnsPolicy"), spec.get("dnsPolicy"), DNS_POLICIES)
    causes += validate_pod_dns(spec, path)
    causes += validate_labels(mapping(spec, "nodeSelector"), child(path, "nodeSelector"))
    causes += _validate_tolerations(items(spec, "tolerations"), child(path, "tolerations"))
    causes += _validate_node_affinity(
        mapping(mapping(spec, "affinity"), "nodeAffinity"), child(path, "affinity", "nodeAffinity")
    )
    for field in ("nodeName", "schedulerName", "serviceAccountName"):
        if spec.get(field):
            causes += invalid_each(
                child(path, field), spec[field], fmt.is_dns1123_subdomain(spec[field])
            )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        causes.append(
            invalid(
                child(path, "activeDeadlineSeconds"),
                deadline,
                fmt.inclusive_range_error(1, 2**31 - 1),
            )
        )
    return causes


EPHEMERAL_FORBIDDEN_FIELDS = (
    "ports",
    "resources",
    "lifecycle",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "restartPolicy",
    "resizePolicy",
)
"""What an ephemeral container may not have (it must not be relied upon to serve the pod)."""


def _validate_ephemeral_containers(
    spec: dict[str, Any], path: str, volumes: set[str], names: set[str]
) -> list[Cause]:
    causes: list[Cause] = []
    targets = {c.get("name") for c in items(spec, "containers") + items(spec, "initContainers")}
    for i, container in enumerate(items(spec, "ephemeralContainers")):
        at = index(child(path, "ephemeralContainers"), i)
        allowed = {k: v for k, v in container.items() if k not in EPHEMERAL_FORBIDDEN_FIELDS}
        causes += validate_container(
            allowed, at, volumes, names, False, bool(spec.get("hostNetwork"))
        )
        for field in EPHEMERAL_FORBIDDEN_FIELDS:
            if container.get(field):
                causes.append(
                    api_errors.forbidden(
                        child(at, field), "cannot be set for an Ephemeral Container"
                    )
                )
        target = container.get("targetContainerName")
        if target and target not in targets:
            causes.append(Cause(child(at, "targetContainerName"), f'Not found: "{target}"',
                                "FieldValueNotFound"))  # fmt: skip
    return causes


def validate_pod_create(spec: dict[str, Any]) -> list[Cause]:
    """Ephemeral containers come only through `pods/<name>/ephemeralcontainers`."""
    if items(spec, "ephemeralContainers"):
        return [api_errors.forbidden("spec.ephemeralContainers", "cannot be set on create")]
    return []


def validate_ephemeral_containers_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Ephemeral containers may be added, never changed or removed (Kubernetes'
    ValidatePodEphemeralContainersUpdate); the new ones are checked with the whole spec."""
    causes = validate_pod_spec(mapping(new, "spec"), "spec")
    current = {
        c.get("name"): (i, c)
        for i, c in enumerate(items(mapping(new, "spec"), "ephemeralContainers"))
    }
    for old_container in items(mapping(old, "spec"), "ephemeralContainers"):
        name = old_container.get("name")
        found = current.get(name)
        if found is None:
            causes.append(
                api_errors.forbidden(
                    "spec.ephemeralContainers",
                    f'existing ephemeral containers "{name}" may not be removed',
                )
            )
        elif found[1] != old_container:
            causes.append(
                api_errors.forbidden(
                    f"spec.ephemeralContainers[{found[0]}]",
                    f'existing ephemeral containers "{name}" may not be changed',
                )
            )
    return causes


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Only images, activeDeadlineSeconds, added tolerations and a negative grace period move."""
    if new.get("spec") == old.get("spec"):  # a metadata-only write: nothing moved
        return []
    new_spec, old_spec = _defaulted_spec(new), _defaulted_spec(old)
    causes: list[Cause] = []
    new_deadline, old_deadline = (
        new_spec.get("activeDeadlineSeconds"),
        old_spec.get("activeDeadlineSeconds"),
    )
    if old_deadline is not None and (new_deadline is None or new_deadline > old_deadline):
        causes.append(
            invalid(
                "spec.activeDeadlineSeconds",
                new_deadline,
                "must be less than or equal to previous value",
            )
        )
    causes += _validate_only_added_tolerations(new_spec, old_spec)
    mungeable = copy.deepcopy(new_spec)
    for field in ("containers", "initContainers"):
        old_containers = items(old_spec, field)
        for i, container in enumerate(items(mungeable, field)):
            if i < len(old_containers) and "image" in old_containers[i]:
                container["image"] = old_containers[i]["image"]
    mungeable["activeDeadlineSeconds"] = old_spec.get("activeDeadlineSeconds")
    mungeable["tolerations"] = old_spec.get("tolerations")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and new_spec.get("terminationGracePeriodSeconds") == 1
    ):
        mungeable["terminationGracePeriodSeconds"] = old_grace
    if _without_nulls(mungeable) != _without_nulls(old_spec):
        causes.append(api_errors.forbidden("spec", POD_UPDATE_FORBIDDEN))
    return causes


def _defaulted_spec(pod: dict[str, Any]) -> dict[str, Any]:
    """A defaulted copy, so a PUT of the user's manifest compares equal to the stored pod."""
    spec = copy.deepcopy(mapping(pod, "spec"))
    defaults.default_pod_spec(spec)
    if spec.get("priority") is None:
        spec["priority"] = 0
    return spec


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _validate_only_added_tolerations(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    def identity(toleration: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(toleration.get(f) for f in ("key", "operator", "value", "effect"))

    remaining = [identity(t) for t in items(new, "tolerations")]
    for toleration in items(old, "tolerations"):
        if identity(toleration) not in remaining:
            return [
                api_errors.forbidden(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            ]
    return []


# --- volumes ----------------------------------------------------------------------------


def _validate_volumes(volumes: list[dict[str, Any]], path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    causes: list[Cause] = []
    for i, volume in enumerate(volumes):
        volume_path = index(path, i)
        causes += unique_label_name(child(volume_path, "name"), volume.get("name") or "", names)
        sources = [source for source in VOLUME_SOURCES if volume.get(source) is not None]
        if not sources:
            causes.append(required(volume_path, "must specify a volume type"))
        for extra in sources[1:]:
            causes.append(
                api_errors.forbidden(
                    child(volume_path, extra), "may not specify more than 1 volume type"
                )
            )
        host_path = mapping(volume, "hostPath")
        if "hostPath" in sources and not host_path.get("path"):
            causes.append(required(child(volume_path, "hostPath", "path")))
        elif "hostPath" in sources and ".." in str(host_path["path"]).split("/"):
            causes.append(invalid(child(volume_path, "hostPath", "path"), host_path["path"],
                                  "must not contain '..'"))  # fmt: skip
        if "configMap" in sources:
            causes += projected.validate_config_map_volume(
                mapping(volume, "configMap"), child(volume_path, "configMap")
            )
        if "secret" in sources:
            causes += projected.validate_secret_volume(
                mapping(volume, "secret"), child(volume_path, "secret")
            )
        if "downwardAPI" in sources:
            causes += projected.validate_downward_api_volume(
                mapping(volume, "downwardAPI"), child(volume_path, "downwardAPI")
            )
        if "projected" in sources:
            causes += projected.validate_projected_volume(
                mapping(volume, "projected"), child(volume_path, "projected")
            )
    return names, causes


# --- scheduling -------------------------------------------------------------------------


def _validate_tolerations(tolerations: list[dict[str, Any]], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, toleration in enumerate(tolerations):
        toleration_path = index(path, i)
        toleration_key = toleration.get("key") or ""
        operator = toleration.get("operator") or ""
        value = toleration.get("value") or ""
        effect = toleration.get("effect") or ""
        if toleration_key:
            causes += validate_label_name(toleration_key, child(toleration_path, "key"))
        if not toleration_key and operator != "Exists":
            causes.append(
                invalid(
                    child(toleration_path, "operator"),
                    operator,
                    "operator must be Exists when `key` is empty, which means "
                    '"match all values and all keys"',
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(
                invalid(
                    child(toleration_path, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if operator in ("Equal", ""):
            messages = fmt.is_label_value(value)
            if messages:
                causes.append(
                    invalid(child(toleration_path, "operator"), value, ";".join(messages))
                )
        elif operator == "Exists":
            if value:
                causes.append(
                    invalid(
                        child(toleration_path, "operator"),
                        toleration,
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            causes.append(
                api_errors.not_supported(
                    child(toleration_path, "operator"), operator, ["Equal", "Exists"]
                )
            )
        if effect and effect not in TAINT_EFFECTS:
            causes.append(
                api_errors.not_supported(child(toleration_path, "effect"), effect, TAINT_EFFECTS)
            )
    return causes


def _validate_node_affinity(affinity: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    operators = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
    required_field = "requiredDuringSchedulingIgnoredDuringExecution"
    if isinstance(affinity.get(required_field), dict):
        selector_path = child(path, required_field)
        terms = items(affinity[required_field], "nodeSelectorTerms")
        if not terms:
            causes.append(
                required(
                    child(selector_path, "nodeSelectorTerms"),
                    "must have at least one node selector term",
                )
            )
        for i, term in enumerate(terms):
            causes += _validate_node_selector_term(
                term, index(child(selector_path, "nodeSelectorTerms"), i), operators
            )
    preferred_field = "preferredDuringSchedulingIgnoredDuringExecution"
    for i, preference in enumerate(items(affinity, preferred_field)):
        preference_path = index(child(path, preferred_field), i)
        weight = preference.get("weight")
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            causes.append(
                invalid(child(preference_path, "weight"), weight, "must be in the range 1-100")
            )
        causes += _validate_node_selector_term(
            mapping(preference, "preference"), child(preference_path, "preference"), operators
        )
    return causes


def _validate_node_selector_term(
    term: dict[str, Any], path: str, operators: tuple[str, ...]
) -> list[Cause]:
    causes: list[Cause] = []
    for i, requirement in enumerate(items(term, "matchExpressions")):
        causes += validate_selector_requirement(
            requirement, index(child(path, "matchExpressions"), i), operators
        )
    for i, requirement in enumerate(items(term, "matchFields")):
        field_path = index(child(path, "matchFields"), i)
        if requirement.get("key") != "metadata.name":
            causes.append(
                invalid(
                    child(field_path, "key"),
                    requirement.get("key"),
                    "not a valid field selector key",
                )
            )
        if requirement.get("operator") not in ("In", "NotIn"):
            causes.append(
                invalid(
                    child(field_path, "operator"),
                    requirement.get("operator"),
                    "not a valid selector operator",
                )
            )
        elif len(requirement.get("values") or []) != 1:
            causes.append(
                required(
                    child(field_path, "values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' "
                    "for node field selector",
                )
            )
    return causes
