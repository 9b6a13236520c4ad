"""Pure translation of a pod's spec into container configs: names, labels, env, limits, mounts.

No I/O: the caller passes what was looked up (the sandbox, the pod IP, volume paths on the host,
the ConfigMaps the env refers to). A spec that cannot be honoured raises `ConfigError`, which
the pod worker reports as `CreateContainerConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from minik8s.api import quantity
from minik8s.api.meta import Object
from minik8s.kubelet import downward, envfrom, securitycontext
from minik8s.kubelet.configerror import ConfigError
from minik8s.kubelet.runtime import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_NAMESPACE,
    LABEL_NODE,
    LABEL_POD,
    LABEL_POD_UID,
    SANDBOX,
    ContainerConfig,
    Mount,
    SecurityOptions,
)


def pod_key(pod: Object) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def pod_uid(pod: Object) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def docker_name(pod: Object, container: str, attempt: int) -> str:
    """`k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`, like dockershim's names."""
    meta = pod.get("metadata") or {}
    return f"k8s_{container}_{meta.get('name')}_{meta.get('namespace')}_{pod_uid(pod)}_{attempt}"


def labels(pod: Object, node: str, container: str, attempt: int) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    return {
        LABEL_NODE: node,
        LABEL_POD_UID: pod_uid(pod),
        LABEL_POD: str(meta.get("name", "")),
        LABEL_NAMESPACE: str(meta.get("namespace", "")),
        LABEL_CONTAINER: container,
        LABEL_ATTEMPT: str(attempt),
    }


def sandbox_config(
    pod: Object, node: str, attempt: int, image: str, network: str
) -> ContainerConfig:
    """The pause container owning the pod's namespaces: its network (or the host's, with
    hostNetwork), its IPC namespace (or the host's) and hostPorts; it needs no privilege."""
    spec = pod.get("spec") or {}
    host_network = spec.get("hostNetwork") is True
    hostname = spec.get("hostname") or (pod.get("metadata") or {}).get("name", "")
    return ContainerConfig(
        name=docker_name(pod, SANDBOX, attempt),
        image=image,
        labels=labels(pod, node, SANDBOX, attempt),
        network=None if host_network else network,
        network_mode="host" if host_network else None,
        hostname=None if host_network else str(hostname)[:63],
        security=SecurityOptions(cap_drop=("ALL",), security_opt=("no-new-privileges",)),
        ipc_mode="host" if spec.get("hostIPC") is True else "shareable",
        pid_mode="host" if spec.get("hostPID") is True else None,
        sysctls=securitycontext.sandbox_sysctls(pod),
        port_bindings={} if host_network else host_ports(pod),
    )


def host_ports(pod: Object) -> dict[str, tuple[str, int]]:
    """`<containerPort>/<protocol>` → (hostIP, hostPort) of every container port with one."""
    bindings = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                key = f"{port['containerPort']}/{str(port.get('protocol') or 'TCP').lower()}"
                bindings[key] = (str(port.get("hostIP") or ""), int(port["hostPort"]))
    return bindings


def namespace_modes(pod: Object, sandbox_id: str) -> tuple[str, str | None, str]:
    """(network, PID, IPC) modes of an app container: the sandbox's namespaces, the host's PID
    namespace with hostPID, the sandbox's with shareProcessNamespace."""
    spec = pod.get("spec") or {}
    sandbox = f"container:{sandbox_id}"
    if spec.get("hostPID") is True:
        pid: str | None = "host"
    else:
        pid = sandbox if spec.get("shareProcessNamespace") is True else None
    return sandbox, pid, "host" if spec.get("hostIPC") is True else sandbox


def container_config(
    pod: Object,
    container: Object,
    *,
    node: str,
    attempt: int,
    sandbox_id: str,
    pod_ip: str,
    host_ip: str,
    volume_paths: Mapping[str, str],
    configmaps: Mapping[str, Object],
    secrets: Mapping[str, Object] | None = None,
    service_env: Mapping[str, str] | None = None,
    security: SecurityOptions | None = None,
    sub_paths: Mapping[int, str] | None = None,
    allocatable: Mapping[str, str] | None = None,
    extra_mounts: tuple[Mount, ...] = (),
    target_id: str | None = None,
) -> ContainerConfig:
    """`service_env`: the Service variables (`envvars.service_env`), overridden by the
    container's own env; `security`: the container's securityContext as Docker options;
    `sub_paths`: the host path of each volume mount with a subPath, by its index (see
    `subpath.prepare`); `allocatable`: the node's (the downward API's unset limits);
    `extra_mounts`: the kubelet's own files (the termination message file); `target_id`: the
    running container whose processes an ephemeral container sees (its
    `targetContainerName`): it joins that container's PID namespace."""
    env = resolve_env(pod, container, pod_ip, host_ip, configmaps, secrets or {}, allocatable,
                      base=service_env)  # fmt: skip
    command = [expand(c, env) for c in container["command"]] if container.get("command") else None
    args = [expand(a, env) for a in container["args"]] if container.get("args") else None
    nano_cpus, mem_limit = limits(container)
    network_mode, pid_mode, ipc_mode = namespace_modes(pod, sandbox_id)
    return ContainerConfig(
        name=docker_name(pod, container["name"], attempt),
        image=str(container.get("image") or ""),
        labels=labels(pod, node, container["name"], attempt),
        entrypoint=command,
        command=args,
        env=env,
        working_dir=container.get("workingDir") or None,
        mounts=mounts(container, volume_paths, read_only_volumes(pod), sub_paths or {})
        + extra_mounts,
        nano_cpus=nano_cpus,
        mem_limit=mem_limit,
        network_mode=network_mode,
        tty=bool(container.get("tty")),
        stdin_open=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        security=security or SecurityOptions(),
        pid_mode=f"container:{target_id}" if target_id else pid_mode,
        ipc_mode=ipc_mode,
    )


def resolve_env(
    pod: Object,
    container: Object,
    pod_ip: str,
    host_ip: str,
    configmaps: Mapping[str, Object],
    secrets: Mapping[str, Object] | None = None,
    allocatable: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment, in order, with `$(VAR)` references expanded: `base`
    (the Service variables, `envvars`), then `envFrom`, then `env`, each overriding the last.
    `allocatable`: the node's, for unset limits."""
    facts = downward.PodFacts(pod_ip, host_ip, allocatable)
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    env: dict[str, str] = dict(base or {})
    env.update(envfrom.from_sources(container, namespace, configmaps, secrets or {}).values)
    for var in container.get("env") or []:
        name = var["name"]
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(str(var.get("value") or ""), env)
        elif source.get("fieldRef"):
            env[name] = downward.field_value(pod, source["fieldRef"]["fieldPath"], facts)
        elif source.get("configMapKeyRef"):
            ref = source["configMapKeyRef"]
            value = ((configmaps.get(ref.get("name") or "") or {}).get("data") or {}).get(
                ref["key"]
            )
            if value is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"couldn't find key {ref['key']} in ConfigMap {ref.get('name')}")
            env[name] = str(value)
        elif source.get("secretKeyRef"):
            value = envfrom.secret_key(source["secretKeyRef"], namespace, secrets or {})
            if value is not None:
                env[name] = value
        elif source.get("resourceFieldRef"):
            env[name] = downward.resource_value(container, source["resourceFieldRef"], facts)
        else:
            raise ConfigError(f"env {name}: unsupported valueFrom {sorted(source)}")
    return env


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known variables are replaced, `$$` escapes a `$`."""

    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return _VAR.sub(replace, text)


def limits(container: Object) -> tuple[int | None, int | None]:
    """(nano_cpus, memory bytes) from `resources.limits`; None where unset."""
    lim = (container.get("resources") or {}).get("limits") or {}
    cpu = lim.get("cpu")
    memory = lim.get("memory")
    nano = quantity.cpu_millis(cpu) * 1_000_000 if cpu is not None else None
    return nano, (quantity.memory_bytes(memory) if memory is not None else None)


READ_ONLY_KINDS = ("configMap", "secret", "projected", "downwardAPI")
"""Volumes the kubelet writes and a container must never change: always mounted read-only,
as in Kubernetes (a container rewriting `..data` could make the writer delete host files)."""


def read_only_volumes(pod: Object) -> frozenset[str]:
    return frozenset(
        str(v.get("name"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if any(v.get(kind) is not None for kind in READ_ONLY_KINDS)
    )


def sub_path(container: Object, mount: Object, env: Mapping[str, str]) -> str:
    """A mount's subPath, or its subPathExpr expanded with the container's environment ("" for
    neither); the result is checked against its volume by `subpath.prepare`."""
    if mount.get("subPath"):
        return str(mount["subPath"])
    if mount.get("subPathExpr"):
        return expand(str(mount["subPathExpr"]), env)
    return ""


def mounts(
    container: Object,
    volume_paths: Mapping[str, str],
    read_only: frozenset[str] = frozenset(),
    sub_paths: Mapping[int, str] | None = None,
) -> tuple[Mount, ...]:
    result = []
    for i, mount in enumerate(container.get("volumeMounts") or []):
        source = volume_paths.get(mount["name"])
        if source is None:
            raise ConfigError(f"volume {mount['name']!r} is not defined in the pod")
        if mount.get("subPath") or mount.get("subPathExpr"):
            pinned = (sub_paths or {}).get(i)
            if pinned is None:  # never the joined path: it could lead anywhere
                raise ConfigError(f"subpath of volume {mount['name']!r} was not prepared")
            source = pinned
        ro = bool(mount.get("readOnly")) or mount["name"] in read_only
        result.append(Mount(source, mount["mountPath"], ro))
    return tuple(result)


def image_tag(image: str) -> str | None:
    """The tag of an image reference, None when it has none (a digest counts as a tag)."""
    if "@" in image:
        return image.split("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def pull_policy(container: Object) -> str:
    """Always for `:latest` or no tag, else IfNotPresent, unless the spec says."""
    policy = container.get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return str(policy)
    tag = image_tag(str(container.get("image") or ""))
    return "Always" if tag in (None, "latest") else "IfNotPresent"


def restart_policy(pod: Object) -> str:
    return str((pod.get("spec") or {}).get("restartPolicy") or "Always")


def grace_period(pod: Object) -> int:
    meta = pod.get("metadata") or {}
    value = meta.get("deletionGracePeriodSeconds")
    if value is None:
        value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return 30 if value is None else max(0, int(value))
