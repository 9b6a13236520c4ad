"""A pod's and its containers' `securityContext` as Docker options (pure).

Every field is honoured through the Docker API or refused with a `ConfigError` (the pod shows
`CreateContainerConfigError` and an Event says why): never silently ignored.

| field | Docker |
|---|---|
| runAsUser / runAsGroup | `User: "uid:gid"` (runAsGroup alone: the image's user with that group) |
| runAsNonRoot | checked against runAsUser, else the image's `USER`, as the kubelet does |
| supplementalGroups, fsGroup | `GroupAdd` (fsGroup also owns the volumes the kubelet writes) |
| capabilities add / drop | `CapAdd` / `CapDrop` |
| readOnlyRootFilesystem | `ReadonlyRootfs` |
| allowPrivilegeEscalation: false | `no-new-privileges` |
| privileged | `Privileged` (Docker's own error when the host cannot, e.g. these machines) |
| seccompProfile | RuntimeDefault: Docker's default profile; Unconfined: `seccomp=unconfined`; |
|   | Localhost: the JSON of `<root dir>/seccomp/<profile>`; unset: `--seccomp-default` |
| appArmorProfile | RuntimeDefault: Docker's; Unconfined / Localhost: `apparmor=…` |
| procMount: Unmasked | `systempaths=unconfined` |
| sysctls | on the sandbox, which owns the pod's namespaces |
| seLinuxOptions | refused unless SELinux is enabled on the node |
| hostUsers: false, windowsOptions.hostProcess, supplementalGroupsPolicy: Strict | refused |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api.meta import Object
from minik8s.kubelet.configerror import ConfigError
from minik8s.kubelet.runtime import SecurityOptions

INHERITED = (
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seLinuxOptions",
    "windowsOptions",
    "seccompProfile",
    "appArmorProfile",
)
"""Pod-level fields a container's own securityContext overrides."""


def pod_context(pod: Object) -> Object:
    context = (pod.get("spec") or {}).get("securityContext")
    return context if isinstance(context, dict) else {}


def effective(pod: Object, container: Object) -> Object:
    """The container's securityContext with the pod's inherited fields filled in
    (Kubernetes' DetermineEffectiveSecurityContext)."""
    pod_sc = pod_context(pod)
    own = container.get("securityContext")
    result: Object = {k: pod_sc[k] for k in INHERITED if pod_sc.get(k) is not None}
    if isinstance(own, dict):
        result.update({k: v for k, v in own.items() if v is not None})
    return result


def pod_format(pod: Object) -> str:
    """Kubernetes' format.Pod: `name_namespace(uid)`."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


def image_uid(image_user: str) -> tuple[int | None, str]:
    """The image's `USER` as (numeric uid or None, user name): "" is root."""
    user = image_user.split(":", 1)[0]
    if not user:
        return 0, ""
    return (int(user), "") if user.isascii() and user.isdigit() else (None, user)


def verify_run_as_non_root(pod: Object, container: Object, image_user: str) -> None:
    """The kubelet's verifyRunAsNonRoot, with its messages."""
    sc = effective(pod, container)
    if sc.get("runAsNonRoot") is not True:
        return
    name = container.get("name")
    if sc.get("runAsUser") is not None:
        if sc["runAsUser"] == 0:
            raise ConfigError(
                f"container's runAsUser breaks non-root policy "
                f'(pod: "{pod_format(pod)}", container: {name})'
            )
        return
    uid, user_name = image_uid(image_user)
    if uid == 0:
        raise ConfigError(
            f"container has runAsNonRoot and image will run as root "
            f'(pod: "{pod_format(pod)}", container: {name})'
        )
    if uid is None:
        raise ConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({user_name}), cannot "
            f'verify user is non-root (pod: "{pod_format(pod)}", container: {name})'
        )


def needs_image_user(pod: Object, container: Object) -> bool:
    """Whether the image's USER matters (runAsNonRoot or runAsGroup without runAsUser): only
    then does the kubelet inspect the image for it."""
    sc = effective(pod, container)
    return sc.get("runAsUser") is None and (
        sc.get("runAsNonRoot") is True or sc.get("runAsGroup") is not None
    )


def check_pod_supported(pod: Object, selinux_enabled: bool) -> None:
    """Pod-level fields the Docker runtime cannot honour."""
    spec = pod.get("spec") or {}
    sc = pod_context(pod)
    if spec.get("hostUsers") is False:
        raise ConfigError(
            "hostUsers: false (a user namespace per pod) is not supported by the Docker runtime"
        )
    if sc.get("supplementalGroupsPolicy") == "Strict":
        raise ConfigError(
            "supplementalGroupsPolicy: Strict is not supported by the Docker "
            "runtime (it adds the groups of the image's /etc/group)"
        )
    _check_common(sc, "pod", selinux_enabled)


def _check_common(sc: Object, who: str, selinux_enabled: bool) -> None:
    if _non_empty(sc.get("seLinuxOptions")) and not selinux_enabled:
        raise ConfigError(
            f"{who} sets securityContext.seLinuxOptions but SELinux is not enabled on this node"
        )
    windows = sc.get("windowsOptions")
    if isinstance(windows, dict) and windows.get("hostProcess") is True:
        raise ConfigError(
            f"{who} sets securityContext.windowsOptions.hostProcess: this is a Linux node"
        )


def _non_empty(value: Any) -> bool:
    return isinstance(value, dict) and any(v for v in value.values())


def container_options(
    pod: Object,
    container: Object,
    image_user: str,
    *,
    seccomp_default: bool,
    selinux_enabled: bool,
    read_profile: Callable[[str], str],
) -> SecurityOptions:
    """The Docker options of one app container. `read_profile` gives the JSON of a Localhost
    seccomp profile by its `localhostProfile` path (raising `ConfigError` when missing)."""
    sc = effective(pod, container)
    pod_sc = pod_context(pod)
    name = container.get("name")
    _check_common(sc, f'container "{name}"', selinux_enabled)
    verify_run_as_non_root(pod, container, image_user)
    user = _user(sc, image_user)
    groups = [pod_sc["fsGroup"]] if pod_sc.get("fsGroup") is not None else []
    groups += [g for g in pod_sc.get("supplementalGroups") or [] if g not in groups]
    capabilities: Object = sc["capabilities"] if isinstance(sc.get("capabilities"), dict) else {}
    options: list[str] = []
    if sc.get("allowPrivilegeEscalation") is False:
        options.append("no-new-privileges")
    options += _seccomp(sc.get("seccompProfile"), seccomp_default, read_profile)
    options += _apparmor(sc.get("appArmorProfile"))
    options += [f"label={k}:{v}" for k, v in _se_linux(sc.get("seLinuxOptions"))]
    if sc.get("procMount") == "Unmasked":
        options.append("systempaths=unconfined")
    return SecurityOptions(
        user=user,
        group_add=tuple(str(g) for g in groups),
        cap_add=tuple(_capability(c) for c in capabilities.get("add") or []),
        cap_drop=tuple(_capability(c) for c in capabilities.get("drop") or []),
        read_only=sc.get("readOnlyRootFilesystem") is True,
        privileged=sc.get("privileged") is True,
        security_opt=tuple(options),
    )


def sandbox_sysctls(pod: Object) -> dict[str, str]:
    """The pod's sysctls, set on its sandbox (pause) container, which owns its namespaces."""
    return {str(s["name"]): str(s.get("value", "")) for s in pod_context(pod).get("sysctls") or []}


def _user(sc: Object, image_user: str) -> str | None:
    uid, gid = sc.get("runAsUser"), sc.get("runAsGroup")
    if uid is None and gid is None:
        return None
    if uid is None:  # the image's user, in the asked group
        uid = image_user.split(":", 1)[0] or "0"
    return f"{uid}:{gid}" if gid is not None else str(uid)


def _capability(name: Any) -> str:
    text = str(name).upper()
    return text if text == "ALL" or text.startswith("CAP_") else f"CAP_{text}"


def _seccomp(profile: Any, default: bool, read_profile: Callable[[str], str]) -> list[str]:
    kind = profile.get("type") if isinstance(profile, dict) else None
    if kind is None:
        return [] if default else ["seccomp=unconfined"]
    if kind == "Unconfined":
        return ["seccomp=unconfined"]
    if kind == "Localhost":
        return [f"seccomp={read_profile(str(profile.get('localhostProfile') or ''))}"]
    return []  # RuntimeDefault: Docker's default profile


def _apparmor(profile: Any) -> list[str]:
    kind = profile.get("type") if isinstance(profile, dict) else None
    if kind == "Unconfined":
        return ["apparmor=unconfined"]
    if kind == "Localhost":
        return [f"apparmor={profile.get('localhostProfile')}"]
    return []


def _se_linux(options: Any) -> list[tuple[str, str]]:
    if not isinstance(options, dict):
        return []
    return [(k, str(options[k])) for k in ("user", "role", "type", "level") if options.get(k)]
