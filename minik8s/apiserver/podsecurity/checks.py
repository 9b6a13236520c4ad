"""The Pod Security Standards' checks (baseline and restricted), versioned, with the messages
of Kubernetes' pod-security-admission library (pure: a pod's metadata and spec in, results out).

Each check has versions (the first policy version it applies to); a restricted check may
override baseline ones (restricted `capabilities_restricted` replaces `capabilities_baseline`).
A level's checks run baseline IDs first, then restricted IDs, each group sorted, as upstream,
so a refusal reads `allowPrivilegeEscalation != false (…), unrestricted capabilities (…), …`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.meta import Object
from minik8s.apiserver.podsecurity.levels import Level, Version

Spec = dict[str, Any]


@dataclass(frozen=True)
class Result:
    allowed: bool = True
    reason: str = ""
    detail: str = ""


ALLOWED = Result()
CheckFn = Callable[[Object, Spec], Result]


@dataclass(frozen=True)
class Check:
    id: str
    level: Level
    versions: tuple[tuple[Version, CheckFn], ...]
    overrides: tuple[str, ...] = ()


# --- helpers (upstream's joinQuote, pluralize, visitContainers) --------------------------------


def join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def plural(singular: str, many: str, count: int) -> str:
    return singular if count == 1 else many


def containers(spec: Spec) -> Iterator[Object]:
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            if isinstance(container, dict):
                yield container


def _sc(obj: Object) -> Object:
    context = obj.get("securityContext")
    return context if isinstance(context, dict) else {}


def _windows(spec: Spec) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _user_namespaced(spec: Spec) -> bool:
    return spec.get("hostUsers") is False


def _named(kind: str, names: list[str]) -> str:
    return f"{plural(kind, kind + 's', len(names))} {join_quote(names)}"


def _setters(pod_bad: bool, bad_containers: list[str]) -> list[str]:
    setters = ["pod"] if pod_bad else []
    if bad_containers:
        setters.append(_named("container", bad_containers))
    return setters


# --- baseline ---------------------------------------------------------------------------------


def app_armor_profile(meta: Object, spec: Spec) -> Result:
    allowed = ("RuntimeDefault", "Localhost")
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("appArmorProfile")
    pod_bad = isinstance(pod_profile, dict) and pod_profile.get("type") not in allowed
    if pod_bad:
        bad_values.add(str(pod_profile.get("type") or ""))  # type: ignore[union-attr]
    bad_containers = []
    for c in containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in allowed:
            bad_containers.append(c.get("name", ""))
            bad_values.add(str(profile.get("type") or ""))
    setters = _setters(pod_bad, bad_containers)
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    annotations = sorted(
        f'{k}="{v}"'
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(prefix) and v and v != "runtime/default" and not v.startswith("localhost/")
    )
    values = sorted(bad_values) + annotations
    if annotations:
        setters.append(plural("annotation", "annotations", len(annotations)))
    if not setters:
        return ALLOWED
    return Result(
        False,
        plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(values)}",
    )


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def _added(c: Object) -> list[str]:
    capabilities = _sc(c).get("capabilities")
    added = capabilities.get("add") if isinstance(capabilities, dict) else None
    return [str(a) for a in added] if isinstance(added, list) else []


def _dropped(c: Object) -> list[str]:
    capabilities = _sc(c).get("capabilities")
    dropped = capabilities.get("drop") if isinstance(capabilities, dict) else None
    return [str(d) for d in dropped] if isinstance(dropped, list) else []


def capabilities_baseline(meta: Object, spec: Spec) -> Result:
    bad, forbidden = [], set()
    for c in containers(spec):
        extra = [cap for cap in _added(c) if cap not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(c.get("name", ""))
            forbidden.update(extra)
    if not bad:
        return ALLOWED
    return Result(
        False,
        "non-default capabilities",
        f"{_named('container', bad)} must not include "
        f"{join_quote(sorted(forbidden))} in securityContext.capabilities.add",
    )


def host_namespaces(meta: Object, spec: Spec) -> Result:
    found = [
        f"{field}=true"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(field) is True
    ]
    return Result(False, "host namespaces", ", ".join(found)) if found else ALLOWED


def host_path_volumes(meta: Object, spec: Spec) -> Result:
    names = [
        str(v.get("name", ""))
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and v.get("hostPath") is not None
    ]
    return Result(False, "hostPath volumes", _named("volume", names)) if names else ALLOWED


def host_ports(meta: Object, spec: Spec) -> Result:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = [
            p["hostPort"] for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")
        ]
        if used:
            bad.append(c.get("name", ""))
            ports.update(str(p) for p in used)
    if not bad:
        return ALLOWED
    return Result(
        False,
        "hostPort",
        f"{_named('container', bad)} {plural('uses', 'use', len(bad))} "
        f"{plural('hostPort', 'hostPorts', len(ports))} "
        f"{', '.join(sorted(ports))}",
    )


def host_probes_and_host_lifecycle(meta: Object, spec: Spec) -> Result:
    bad, hosts = set(), set()
    for c in containers(spec):
        handlers = [c.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        lifecycle: Object = c["lifecycle"] if isinstance(c.get("lifecycle"), dict) else {}
        handlers += [lifecycle.get("postStart"), lifecycle.get("preStop")]
        for handler in handlers:
            if not isinstance(handler, dict):
                continue
            for action in ("httpGet", "tcpSocket"):
                host = (handler.get(action) or {}).get("host")
                if host:
                    bad.add(c.get("name", ""))
                    hosts.add(str(host))
    if not bad:
        return ALLOWED
    return Result(
        False,
        "probe or lifecycle host",
        f"{_named('container', sorted(bad))} {plural('uses', 'use', len(bad))} "
        f"{plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{join_quote(sorted(hosts))}",
    )


def privileged(meta: Object, spec: Spec) -> Result:
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return ALLOWED
    return Result(
        False,
        "privileged",
        f"{_named('container', bad)} must not set securityContext.privileged=true",
    )


def proc_mount(meta: Object, spec: Spec) -> Result:
    bad, kinds = [], set()
    for c in containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            kinds.add(str(mount))
    if not bad:
        return ALLOWED
    return Result(
        False,
        "procMount",
        f"{_named('container', bad)} must not set securityContext.procMount to "
        f"{join_quote(sorted(kinds))}",
    )


def proc_mount_1_35(meta: Object, spec: Spec) -> Result:
    return ALLOWED if _user_namespaced(spec) else proc_mount(meta, spec)


def _se_linux(types: frozenset[str]) -> CheckFn:
    def check(meta: Object, spec: Spec) -> Result:
        bad_types: set[str] = set()
        flags = {"user": False, "role": False}

        def valid(options: Any) -> bool:
            if not isinstance(options, dict):
                return True
            ok = True
            if str(options.get("type") or "") not in types:
                ok = False
                bad_types.add(str(options.get("type") or ""))
            for key in ("user", "role"):
                if options.get(key):
                    ok, flags[key] = False, True
            return ok

        pod_bad = not valid(_sc(spec).get("seLinuxOptions"))
        bad = [
            c.get("name", "") for c in containers(spec) if not valid(_sc(c).get("seLinuxOptions"))
        ]
        setters = _setters(pod_bad, bad)
        if not setters:
            return ALLOWED
        data = [f"{plural('type', 'types', len(bad_types))} {join_quote(sorted(bad_types))}"]
        data = data if bad_types else []
        data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
        return Result(
            False,
            "seLinuxOptions",
            f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
            f"{'; '.join(data)}",
        )

    return check


SE_LINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SE_LINUX_TYPES_1_31 = SE_LINUX_TYPES_1_0 | {"container_engine_t"}
SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")


def _seccomp_type(obj: Object) -> str | None:
    profile = _sc(obj).get("seccompProfile")
    return str(profile.get("type") or "") if isinstance(profile, dict) else None


def seccomp_baseline_1_0(meta: Object, spec: Spec) -> Result:
    """Before v1.19 seccomp was annotations."""
    annotations = meta.get("annotations") or {}
    allowed = ("runtime/default", "docker/default")
    keys = ["seccomp.security.alpha.kubernetes.io/pod"]
    keys += [
        f"container.seccomp.security.alpha.kubernetes.io/{c.get('name', '')}"
        for c in containers(spec)
    ]
    forbidden = sorted(
        {
            f'{k}="{annotations[k]}"'
            for k in keys
            if k in annotations
            and annotations[k] not in allowed
            and not str(annotations[k]).startswith("localhost/")
        }
    )
    if not forbidden:
        return ALLOWED
    return Result(
        False,
        "seccompProfile",
        f"forbidden {plural('annotation', 'annotations', len(forbidden))} {', '.join(forbidden)}",
    )


def _seccomp_explicit(spec: Spec) -> tuple[list[str], set[str], bool]:
    """(bad setters, bad values, the pod sets an allowed profile)."""
    bad_values: set[str] = set()
    pod_type = _seccomp_type(spec)
    pod_bad = pod_type is not None and pod_type not in SECCOMP_ALLOWED
    if pod_bad:
        bad_values.add(str(pod_type))
    bad = []
    for c in containers(spec):
        kind = _seccomp_type(c)
        if kind is not None and kind not in SECCOMP_ALLOWED:
            bad.append(c.get("name", ""))
            bad_values.add(kind)
    return _setters(pod_bad, bad), bad_values, pod_type in SECCOMP_ALLOWED


def _seccomp_refusal(setters: list[str], values: set[str]) -> Result:
    return Result(
        False,
        "seccompProfile",
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type "
        f"to {join_quote(sorted(values))}",
    )


def seccomp_baseline_1_19(meta: Object, spec: Spec) -> Result:
    setters, values, _ = _seccomp_explicit(spec)
    return _seccomp_refusal(setters, values) if setters else ALLOWED


_SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
_SYSCTLS_1_27 = _SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
_SYSCTLS_1_29 = _SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SYSCTLS_1_32 = _SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(meta: Object, spec: Spec) -> Result:
        names = [
            str(s.get("name"))
            for s in _sc(spec).get("sysctls") or []
            if isinstance(s, dict) and s.get("name") not in allowed
        ]
        return Result(False, "forbidden sysctls", ", ".join(names)) if names else ALLOWED

    return check


def windows_host_process(meta: Object, spec: Spec) -> Result:
    def host_process(obj: Object) -> bool:
        options = _sc(obj).get("windowsOptions")
        return isinstance(options, dict) and options.get("hostProcess") is True

    bad = [c.get("name", "") for c in containers(spec) if host_process(c)]
    setters = _setters(host_process(spec), bad)
    if not setters:
        return ALLOWED
    return Result(
        False,
        "hostProcess",
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true",
    )


# --- restricted -------------------------------------------------------------------------------


def allow_privilege_escalation(meta: Object, spec: Spec) -> Result:
    bad = [
        c.get("name", "")
        for c in containers(spec)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return ALLOWED
    return Result(
        False,
        "allowPrivilegeEscalation != false",
        f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false",
    )


def _not_on_windows(check: CheckFn) -> CheckFn:
    """The v1.25 revision of a restricted check: Windows pods are not checked."""
    return lambda meta, spec: ALLOWED if _windows(spec) else check(meta, spec)


def _not_in_user_namespace(check: CheckFn) -> CheckFn:
    """The v1.35 revision: a pod in a user namespace (`hostUsers: false`) is not checked."""
    return lambda meta, spec: ALLOWED if _user_namespaced(spec) else check(meta, spec)


def capabilities_restricted(meta: Object, spec: Spec) -> Result:
    missing_drop, adding, forbidden = [], [], set()
    for c in containers(spec):
        if "ALL" not in _dropped(c):
            missing_drop.append(c.get("name", ""))
        extra = [cap for cap in _added(c) if cap != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            forbidden.update(extra)
    details = []
    if missing_drop:
        details.append(
            f"{_named('container', missing_drop)} must set "
            f'securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_named('container', adding)} must not include "
            f"{join_quote(sorted(forbidden))} in securityContext.capabilities.add"
        )
    return Result(False, "unrestricted capabilities", "; ".join(details)) if details else ALLOWED


RESTRICTED_VOLUMES_ALLOWED = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
RESTRICTED_VOLUME_TYPES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def restricted_volumes(meta: Object, spec: Spec) -> Result:
    bad, kinds = [], set()
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if any(volume.get(k) is not None for k in RESTRICTED_VOLUMES_ALLOWED):
            continue
        bad.append(str(volume.get("name", "")))
        kinds.add(
            next((k for k in RESTRICTED_VOLUME_TYPES if volume.get(k) is not None), "unknown")
        )
    if not bad:
        return ALLOWED
    return Result(
        False,
        "restricted volume types",
        f"{_named('volume', bad)} {plural('uses', 'use', len(bad))} "
        f"{plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{join_quote(sorted(kinds))}",
    )


def run_as_non_root(meta: Object, spec: Spec) -> Result:
    pod_value = _sc(spec).get("runAsNonRoot")
    pod_bad, pod_ok = pod_value is False, pod_value is True
    explicit, implicit = [], []
    for c in containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_bad, explicit)
    if setters:
        return Result(
            False,
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return Result(
            False,
            "runAsNonRoot != true",
            f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true",
        )
    return ALLOWED


def run_as_user(meta: Object, spec: Spec) -> Result:
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsUser") == 0]
    setters = _setters(_sc(spec).get("runAsUser") == 0, bad)
    if not setters:
        return ALLOWED
    return Result(False, "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def seccomp_restricted(meta: Object, spec: Spec) -> Result:
    setters, values, pod_set = _seccomp_explicit(spec)
    if setters:
        return _seccomp_refusal(setters, values)
    implicit = [
        c.get("name", "") for c in containers(spec) if _seccomp_type(c) is None and not pod_set
    ]
    if implicit:
        return Result(
            False,
            "seccompProfile",
            f"pod or {_named('container', implicit)} must set "
            f'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        )
    return ALLOWED


# --- the registry -----------------------------------------------------------------------------


def v(minor: int) -> Version:
    return Version(1, minor)


B, R = Level.BASELINE, Level.RESTRICTED
CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", B, ((v(0), app_armor_profile),)),
    Check("capabilities_baseline", B, ((v(0), capabilities_baseline),)),
    Check("hostNamespaces", B, ((v(0), host_namespaces),)),
    Check("hostPathVolumes", B, ((v(0), host_path_volumes),)),
    Check("hostPorts", B, ((v(0), host_ports),)),
    Check("hostProbesAndHostLifecycle", B, ((v(34), host_probes_and_host_lifecycle),)),
    Check("privileged", B, ((v(0), privileged),)),
    Check("procMount", B, ((v(0), proc_mount), (v(35), proc_mount_1_35))),
    Check(
        "seLinuxOptions",
        B,
        ((v(0), _se_linux(SE_LINUX_TYPES_1_0)), (v(31), _se_linux(SE_LINUX_TYPES_1_31))),
    ),
    Check(
        "seccompProfile_baseline", B, ((v(0), seccomp_baseline_1_0), (v(19), seccomp_baseline_1_19))
    ),
    Check(
        "sysctls",
        B,
        (
            (v(0), _sysctls(_SYSCTLS_1_0)),
            (v(27), _sysctls(_SYSCTLS_1_27)),
            (v(29), _sysctls(_SYSCTLS_1_29)),
            (v(32), _sysctls(_SYSCTLS_1_32)),
        ),
    ),
    Check("windowsHostProcess", B, ((v(0), windows_host_process),)),
    Check(
        "allowPrivilegeEscalation",
        R,
        ((v(8), allow_privilege_escalation), (v(25), _not_on_windows(allow_privilege_escalation))),
    ),
    Check(
        "capabilities_restricted",
        R,
        ((v(22), capabilities_restricted), (v(25), _not_on_windows(capabilities_restricted))),
        ("capabilities_baseline",),
    ),
    Check("procMount_restricted", R, ((v(35), proc_mount),), ("procMount",)),
    Check("restrictedVolumes", R, ((v(0), restricted_volumes),), ("hostPathVolumes",)),
    Check(
        "runAsNonRoot",
        R,
        ((v(0), run_as_non_root), (v(35), _not_in_user_namespace(run_as_non_root))),
    ),
    Check("runAsUser", R, ((v(23), run_as_user), (v(35), _not_in_user_namespace(run_as_user)))),
    Check(
        "seccompProfile_restricted",
        R,
        ((v(19), seccomp_restricted), (v(25), _not_on_windows(seccomp_restricted))),
        ("seccompProfile_baseline",),
    ),
)
"""Upstream's checks through policy version v1.35."""

MAX_VERSION = max(version for check in CHECKS for version, _ in check.versions)
"""What `latest` means: the newest version any check has."""


@dataclass
class Evaluator:
    """The checks of each (level, version), computed once per pair as upstream's registry."""

    checks: tuple[Check, ...] = CHECKS
    _cache: dict[tuple[Level, Version], list[CheckFn]] = field(default_factory=dict)

    def functions(self, level: Level, version: Version) -> list[CheckFn]:
        if version.latest or MAX_VERSION < version:
            version = MAX_VERSION
        key = (level, version)
        if key not in self._cache:
            self._cache[key] = self._select(level, version)
        return self._cache[key]

    def _select(self, level: Level, version: Version) -> list[CheckFn]:
        def revision(check: Check) -> CheckFn | None:
            chosen = None
            for minimum, fn in check.versions:
                if not version < minimum:
                    chosen = fn
            return chosen

        levels = (B,) if level is B else (B, R)
        active = {c.id: c for c in self.checks if c.level in levels and revision(c) is not None}
        overridden = {o for c in active.values() if c.level is R for o in c.overrides}
        ordered = sorted(i for i, c in active.items() if c.level is B) + sorted(
            i for i, c in active.items() if c.level is R
        )
        return [fn for i in ordered if i not in overridden and (fn := revision(active[i]))]

    def evaluate(self, level: Level, version: Version, meta: Object, spec: Spec) -> list[Result]:
        """The failed checks' results (empty: allowed); privileged allows everything."""
        if level is Level.PRIVILEGED:
            return []
        failed = []
        for fn in self.functions(level, version):
            result = fn(meta, spec)
            if not result.allowed:
                failed.append(result)
        return failed


def forbidden_detail(failed: list[Result]) -> str:
    """`host ports (8080), privileged (…)`: reasons with their details, as upstream."""
    return ", ".join(f"{r.reason} ({r.detail})" if r.detail else r.reason for r in failed)


def forbidden_reason(failed: list[Result]) -> str:
    return ", ".join(r.reason for r in failed)
