"""Validation of pod and container security contexts (Kubernetes' ValidateSecurityContext and
ValidatePodSecurityContext). The apiserver's `--allow-privileged` policy is its admission's
(`apiserver/podsecurity`): validation is pure.

Types are checked here too: security contexts are not modelled, and a `runAsUser: "0"` must be
a 422, never a value the kubelet trips over.
"""

from __future__ import annotations

import re
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import child, enum, index, invalid, items, mapping, required
from minik8s.api.validation.projected import local_descending_path

MAX_ID = 2**31 - 1
SECCOMP_TYPES = ["Localhost", "RuntimeDefault", "Unconfined"]
APPARMOR_TYPES = ["Localhost", "RuntimeDefault", "Unconfined"]
PROC_MOUNT_TYPES = ["Default", "Unmasked"]
FS_GROUP_CHANGE_POLICIES = ["Always", "OnRootMismatch"]
SUPPLEMENTAL_GROUPS_POLICIES = ["Merge", "Strict"]


def validate_container_security_context(sc: Any, path: str) -> list[Cause]:
    if sc is None:
        return []
    if not isinstance(sc, dict):
        return [invalid(path, sc, "must be an object")]
    causes: list[Cause] = []
    for field in (
        "privileged",
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
    ):
        causes += _boolean(sc, field, path)
    privileged = sc.get("privileged") is True
    causes += _user_and_group(sc, path)
    causes += _capabilities(sc, path)
    if sc.get("allowPrivilegeEscalation") is False:
        if privileged:
            causes.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                )
            )
        if "CAP_SYS_ADMIN" in _strings(mapping(sc, "capabilities").get("add")):
            causes.append(
                invalid(
                    path,
                    sc,
                    "cannot set `allowPrivilegeEscalation` to false "
                    "and `capabilities.Add` CAP_SYS_ADMIN",
                )
            )
    causes += enum(child(path, "procMount"), sc.get("procMount"), PROC_MOUNT_TYPES)
    causes += _profiles(sc, path)
    causes += _se_linux_options(sc, path)
    return causes


def validate_pod_security_context(spec: dict[str, Any], path: str) -> list[Cause]:
    """`spec.securityContext` (`path` is the spec's path) and the host namespace switches."""
    causes: list[Cause] = []
    for field in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "hostUsers"):
        causes += _boolean(spec, field, path)
    sc = spec.get("securityContext")
    if sc is None:
        return causes
    sc_path = child(path, "securityContext")
    if not isinstance(sc, dict):
        return [*causes, invalid(sc_path, sc, "must be an object")]
    causes += _boolean(sc, "runAsNonRoot", sc_path)
    causes += _user_and_group(sc, sc_path)
    if sc.get("fsGroup") is not None:
        causes += _id(sc["fsGroup"], child(sc_path, "fsGroup"))
    groups = sc.get("supplementalGroups")
    if groups is not None and not isinstance(groups, list):
        causes.append(invalid(child(sc_path, "supplementalGroups"), groups, "must be a list"))
    for i, gid in enumerate(groups if isinstance(groups, list) else []):
        causes += _id(gid, index(child(sc_path, "supplementalGroups"), i))
    causes += enum(
        child(sc_path, "fsGroupChangePolicy"),
        sc.get("fsGroupChangePolicy"),
        FS_GROUP_CHANGE_POLICIES,
    )
    causes += enum(
        child(sc_path, "supplementalGroupsPolicy"),
        sc.get("supplementalGroupsPolicy"),
        SUPPLEMENTAL_GROUPS_POLICIES,
    )
    for i, sysctl in enumerate(items(sc, "sysctls")):
        sysctl_path = index(child(sc_path, "sysctls"), i)
        if not sysctl.get("name"):
            causes.append(required(child(sysctl_path, "name")))
        elif not isinstance(sysctl["name"], str) or not _SYSCTL.fullmatch(sysctl["name"]):
            causes.append(invalid(child(sysctl_path, "name"), sysctl["name"], _SYSCTL_MSG))
    causes += _profiles(sc, sc_path)
    causes += _se_linux_options(sc, sc_path)
    return causes


# --- pieces ---------------------------------------------------------------------------------

_SYSCTL = re.compile(r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?")
_SYSCTL_MSG = (
    "must have at most 253 characters and match regex "
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"
)


def _boolean(obj: dict[str, Any], field: str, path: str) -> list[Cause]:
    value = obj.get(field)
    if value is None or isinstance(value, bool):
        return []
    return [invalid(child(path, field), value, "must be a boolean")]


def _id(value: Any, path: str) -> list[Cause]:
    if not isinstance(value, int) or isinstance(value, bool):
        return [invalid(path, value, "must be an integer")]
    if not 0 <= value <= MAX_ID:
        return [invalid(path, value, fmt.inclusive_range_error(0, MAX_ID))]
    return []


def _user_and_group(sc: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("runAsUser", "runAsGroup"):
        if sc.get(field) is not None:
            causes += _id(sc[field], child(path, field))
    return causes


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _capabilities(sc: dict[str, Any], path: str) -> list[Cause]:
    capabilities = sc.get("capabilities")
    if capabilities is None:
        return []
    cap_path = child(path, "capabilities")
    if not isinstance(capabilities, dict):
        return [invalid(cap_path, capabilities, "must be an object")]
    causes: list[Cause] = []
    for field in ("add", "drop"):
        values = capabilities.get(field)
        if values is None:
            continue
        if not isinstance(values, list):
            causes.append(invalid(child(cap_path, field), values, "must be a list"))
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value:
                causes.append(
                    invalid(index(child(cap_path, field), i), value, "must be a capability name")
                )
    return causes


def _profiles(sc: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field, kind, types in (
        ("seccompProfile", "seccomp", SECCOMP_TYPES),
        ("appArmorProfile", "AppArmor", APPARMOR_TYPES),
    ):
        profile = sc.get(field)
        if profile is None:
            continue
        profile_path = child(path, field)
        if not isinstance(profile, dict):
            causes.append(invalid(profile_path, profile, "must be an object"))
            continue
        kind_type = profile.get("type")
        if not kind_type:
            causes.append(
                required(child(profile_path, "type"), f"type is required when {field} is set")
            )
        elif kind_type not in types:
            causes.append(api_errors.not_supported(child(profile_path, "type"), kind_type, types))
        local = profile.get("localhostProfile")
        local_path = child(profile_path, "localhostProfile")
        if kind_type == "Localhost":
            if not local:
                causes.append(required(local_path, f"must be set when {kind} type is Localhost"))
            elif kind == "seccomp":
                causes += local_descending_path(str(local), local_path)
        elif local is not None:
            causes.append(
                invalid(local_path, profile, f"can only be set when {kind} type is Localhost")
            )
    return causes


def _se_linux_options(sc: dict[str, Any], path: str) -> list[Cause]:
    options = sc.get("seLinuxOptions")
    if options is None or isinstance(options, dict):
        return []
    return [invalid(child(path, "seLinuxOptions"), options, "must be an object")]
