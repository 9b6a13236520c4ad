"""Validation of a pod's containers: name, image, ports, env, resources, mounts, probes,
lifecycle hooks and (init containers) the sidecar `restartPolicy`."""

from __future__ import annotations

import re
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import quantity
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation import security
from minik8s.api.validation.meta import (
    child,
    enum,
    index,
    invalid,
    invalid_each,
    items,
    key,
    mapping,
    non_negative,
    not_found,
    required,
    unique_label_name,
)
from minik8s.api.validation.projected import local_descending_path

PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
"""`tcpSocket` is accepted for compatibility; the kubelet fails such a hook at run time."""
CONTAINER_RESTART_POLICIES = ["Always"]
NOT_A_SIDECAR = "may not be set for init containers without restartPolicy=Always"
_HEADER_NAME = re.compile("[-A-Za-z0-9]+")
HEADER_NAME_ERROR = fmt.regex_error(
    "a valid HTTP header must consist of alphanumeric characters or '-'",
    "[-A-Za-z0-9]+",
    "X-Header-Name",
)
FIELD_REF_PATHS = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
]


def validate_container(
    container: dict[str, Any],
    path: str,
    volumes: set[str],
    names: set[str],
    init: bool,
    host_network: bool,
    grace_period: int | None = None,
) -> list[Cause]:
    """`init`: an init container; `grace_period`: the pod's terminationGracePeriodSeconds
    (a sleep hook may not be longer)."""
    causes: list[Cause] = []
    causes += unique_label_name(child(path, "name"), container.get("name") or "", names)
    image = container.get("image")
    if not image:
        causes.append(required(child(path, "image")))
    elif image != image.strip():
        causes.append(
            invalid(child(path, "image"), image, "must not have leading or trailing whitespace")
        )
    causes += enum(child(path, "imagePullPolicy"), container.get("imagePullPolicy"), PULL_POLICIES)
    causes += enum(
        child(path, "terminationMessagePolicy"),
        container.get("terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
    )
    causes += _validate_ports(items(container, "ports"), child(path, "ports"), host_network)
    causes += _validate_env(items(container, "env"), child(path, "env"))
    causes += _validate_resources(mapping(container, "resources"), child(path, "resources"))
    causes += _validate_volume_mounts(
        items(container, "volumeMounts"), child(path, "volumeMounts"), volumes
    )
    causes += security.validate_container_security_context(
        container.get("securityContext"), child(path, "securityContext")
    )
    policy = container.get("restartPolicy")
    sidecar = init and policy == "Always"
    if init:
        causes += enum(child(path, "restartPolicy"), policy, CONTAINER_RESTART_POLICIES)
    elif policy is not None:
        causes.append(
            api_errors.forbidden(
                child(path, "restartPolicy"), "may not be set for non-init containers"
            )
        )
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        if init and not sidecar:
            causes.append(api_errors.forbidden(child(path, "lifecycle"), NOT_A_SIDECAR))
        else:
            causes += _validate_lifecycle(lifecycle, child(path, "lifecycle"), grace_period)
    for probe_field in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_field)
        if not isinstance(probe, dict):
            continue
        if init and not sidecar:
            causes.append(api_errors.forbidden(child(path, probe_field), NOT_A_SIDECAR))
            continue
        causes += _validate_probe(probe, child(path, probe_field))
        threshold = probe.get("successThreshold")
        if probe_field != "readinessProbe" and threshold is not None and threshold != 1:
            causes.append(
                invalid(child(path, probe_field, "successThreshold"), threshold, "must be 1")
            )
    return causes


def _validate_ports(ports: list[dict[str, Any]], path: str, host_network: bool) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        port_path = index(path, i)
        name = port.get("name")
        if name:
            causes += invalid_each(child(port_path, "name"), name, fmt.is_valid_port_name(name))
            if name in names:
                causes.append(api_errors.duplicate(child(port_path, "name"), name))
            names.add(name)
        container_port = port.get("containerPort")
        if container_port == 0:
            causes.append(required(child(port_path, "containerPort")))
        elif container_port is not None:
            causes += invalid_each(
                child(port_path, "containerPort"),
                container_port,
                fmt.is_valid_port_num(container_port),
            )
        host_port = port.get("hostPort")
        if host_port:
            causes += invalid_each(
                child(port_path, "hostPort"), host_port, fmt.is_valid_port_num(host_port)
            )
            if host_network and host_port != container_port:
                causes.append(
                    invalid(
                        child(port_path, "hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
        causes += enum(child(port_path, "protocol"), port.get("protocol"), PROTOCOLS)
    return causes


def _validate_env(env: list[dict[str, Any]], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, variable in enumerate(env):
        env_path = index(path, i)
        name = variable.get("name") or ""
        if not name:
            causes.append(required(child(env_path, "name")))
        else:
            causes += invalid_each(child(env_path, "name"), name, fmt.is_env_var_name(name))
        value_from = variable.get("valueFrom")
        if isinstance(value_from, dict):
            causes += _validate_env_source(
                value_from, child(env_path, "valueFrom"), bool(variable.get("value"))
            )
    return causes


def _validate_env_source(source: dict[str, Any], path: str, has_value: bool) -> list[Cause]:
    kinds = [
        k
        for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
        if source.get(k) is not None
    ]
    if not kinds:
        return [
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, "
                "`configMapKeyRef` or `secretKeyRef`",
            )
        ]
    if len(kinds) > 1:
        return [invalid(path, "", "may not have more than one field specified at a time")]
    causes: list[Cause] = []
    if has_value:
        causes.append(invalid(path, "", "may not be specified when `value` is not empty"))
    field_ref = mapping(source, "fieldRef")
    if kinds[0] == "fieldRef":
        field_path = field_ref.get("fieldPath") or ""
        api_version = field_ref.get("apiVersion")
        if api_version is not None and api_version != "v1":
            causes.append(
                api_errors.not_supported(child(path, "fieldRef", "apiVersion"), api_version, ["v1"])
            )
        if not field_path:
            causes.append(required(child(path, "fieldRef", "fieldPath")))
        elif field_path not in FIELD_REF_PATHS and not _is_label_or_annotation_ref(field_path):
            causes.append(
                api_errors.not_supported(
                    child(path, "fieldRef", "fieldPath"), field_path, FIELD_REF_PATHS
                )
            )
    selector = mapping(source, "configMapKeyRef") or mapping(source, "secretKeyRef")
    if kinds[0] in ("configMapKeyRef", "secretKeyRef"):
        selector_path = child(path, kinds[0])
        if not selector.get("name"):
            causes.append(required(child(selector_path, "name")))
        if not selector.get("key"):
            causes.append(required(child(selector_path, "key")))
        else:
            causes += invalid_each(
                child(selector_path, "key"), selector["key"], fmt.is_config_map_key(selector["key"])
            )
    return causes


def _is_label_or_annotation_ref(field_path: str) -> bool:
    for prefix in ("metadata.labels['", "metadata.annotations['"):
        if field_path.startswith(prefix) and field_path.endswith("']"):
            return len(field_path) > len(prefix) + 2
    return False


def _validate_resources(resources: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {}
    for field in ("limits", "requests"):
        parsed[field] = {}
        for name, value in mapping(resources, field).items():
            value_path = key(child(path, field), name)
            if (
                "/" not in name
                and name not in STANDARD_RESOURCES
                and not name.startswith("hugepages-")
            ):
                causes.append(
                    invalid(value_path, name, "must be a standard resource for containers")
                )
                continue
            try:
                amount = quantity.parse_quantity(value)
            except ValueError:
                causes.append(invalid(value_path, value, quantity.QUANTITY_ERROR))
                continue
            if amount < 0:
                causes.append(
                    invalid(
                        value_path, quantity.canonical(value), "must be greater than or equal to 0"
                    )
                )
            parsed[field][name] = (amount, value)
    for name, (amount, value) in parsed["requests"].items():
        if name in parsed["limits"] and amount > parsed["limits"][name][0]:
            limit = quantity.canonical(parsed["limits"][name][1])
            causes.append(
                invalid(
                    child(path, "requests"),
                    quantity.canonical(value),
                    f"must be less than or equal to {name} limit of {limit}",
                )
            )
    return causes


def _validate_volume_mounts(
    mounts: list[dict[str, Any]], path: str, volumes: set[str]
) -> list[Cause]:
    causes: list[Cause] = []
    mount_paths: set[str] = set()
    for i, mount in enumerate(mounts):
        mount_path_field = child(index(path, i), "mountPath")
        name = mount.get("name") or ""
        if not name:
            causes.append(required(child(index(path, i), "name")))
        elif name not in volumes:
            causes.append(not_found(child(index(path, i), "name"), name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            causes.append(required(mount_path_field))
        elif mount_path in mount_paths:
            causes.append(invalid(mount_path_field, mount_path, "must be unique"))
        mount_paths.add(mount_path)
        sub_path = mount.get("subPath") or ""
        if sub_path:
            causes += local_descending_path(str(sub_path), child(index(path, i), "subPath"))
        sub_path_expr = mount.get("subPathExpr") or ""
        if sub_path_expr:
            expr_path = child(index(path, i), "subPathExpr")
            if sub_path:
                message = "subPathExpr and subPath are mutually exclusive"
                causes.append(invalid(expr_path, sub_path_expr, message))
            causes += local_descending_path(str(sub_path_expr), expr_path)
    return causes


def _validate_lifecycle(
    lifecycle: dict[str, Any], path: str, grace_period: int | None
) -> list[Cause]:
    causes: list[Cause] = []
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook)
        if isinstance(handler, dict):
            causes += _validate_handler(handler, child(path, hook), LIFECYCLE_HANDLERS)
            sleep = mapping(handler, "sleep")
            seconds = sleep.get("seconds")
            if "sleep" in handler and isinstance(seconds, int):
                grace = 30 if grace_period is None else grace_period
                if not 0 < seconds <= grace:
                    message = (
                        "must be greater than 0 and less than terminationGracePeriodSeconds "
                        f"({grace})"
                    )
                    causes.append(invalid(child(path, hook, "sleep"), seconds, message))
    return causes


def _validate_handler(handler: dict[str, Any], path: str, kinds: tuple[str, ...]) -> list[Cause]:
    """Exactly one handler of `kinds` (a probe's or a lifecycle hook's), and its fields."""
    causes: list[Cause] = []
    handlers = [h for h in kinds if handler.get(h) is not None]
    if not handlers:
        causes.append(required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        causes.append(
            api_errors.forbidden(child(path, extra), "may not specify more than 1 handler type")
        )
    if "exec" in handlers[:1] and not mapping(handler, "exec").get("command"):
        causes.append(required(child(path, "exec", "command")))
    for kind in ("httpGet", "tcpSocket"):
        if kind in handlers[:1]:
            causes += validate_port_num_or_name(
                mapping(handler, kind).get("port"), child(path, kind, "port")
            )
    http_get = mapping(handler, "httpGet")
    if "httpGet" in handlers[:1]:
        if http_get.get("path") == "":
            causes.append(required(child(path, "httpGet", "path")))
        causes += enum(child(path, "httpGet", "scheme"), http_get.get("scheme"), ["HTTP", "HTTPS"])
        for header in items(http_get, "httpHeaders"):
            name = header.get("name")
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                causes.append(invalid(child(path, "httpGet", "httpHeaders"), name,
                                      HEADER_NAME_ERROR))  # fmt: skip
    if "sleep" in handlers[:1] and not isinstance(mapping(handler, "sleep").get("seconds"), int):
        causes.append(required(child(path, "sleep", "seconds")))
    return causes


def _validate_probe(probe: dict[str, Any], path: str) -> list[Cause]:
    causes = _validate_handler(probe, path, PROBE_HANDLERS)
    for field in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        causes += non_negative(child(path, field), probe.get(field))
    return causes


def validate_port_num_or_name(port: Any, path: str) -> list[Cause]:
    """An int-or-string port: a number in 1-65535 or an IANA_SVC_NAME."""
    if isinstance(port, str):
        return invalid_each(path, port, fmt.is_valid_port_name(port))
    if isinstance(port, int):
        return invalid_each(path, port, fmt.is_valid_port_num(port))
    return [required(path)]
