"""The container runtime seam: what the kubelet asks of Docker, as a `Protocol`.

`docker.DockerRuntime` implements it with the Docker SDK; `fake.FakeRuntime` in memory. The pod
workers only see these types, so both run the same kubelet code.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# Labels every container of ours carries; cleanup selects by them and nothing else.
LABEL_NODE = "minik8s.node"
LABEL_POD_UID = "minik8s.pod-uid"
LABEL_POD = "minik8s.pod"
LABEL_NAMESPACE = "minik8s.namespace"
LABEL_CONTAINER = "minik8s.container"
LABEL_ATTEMPT = "minik8s.attempt"
LABEL_CLUSTER = "minik8s.cluster"
"""The uid of the cluster's kube-system namespace: two clusters on one dockerd (a developer's
`minik8s up` and a test run, say) both have a `node-1`, and must never adopt or remove each
other's containers."""
SANDBOX = "POD"
"""The `minik8s.container` label value of a pod's sandbox (pause) container."""


class State(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class SecurityOptions:
    """A container's securityContext as Docker options (computed by `kubelet.securitycontext`)."""

    user: str | None = None
    """`uid[:gid]` (runAsUser / runAsGroup); None: the image's USER."""
    group_add: tuple[str, ...] = ()
    """Supplementary groups (supplementalGroups, fsGroup)."""
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    read_only: bool = False
    """A read-only root filesystem."""
    privileged: bool = False
    security_opt: tuple[str, ...] = ()
    """Docker's `--security-opt` values (no-new-privileges, seccomp=…, apparmor=…, …)."""


@dataclass(frozen=True)
class ContainerConfig:
    """Everything needed to create one container (computed purely by `kubelet.specs`)."""

    name: str
    """The Docker container name."""
    image: str
    labels: dict[str, str]
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    """Docker's CMD (Kubernetes' `args`)."""
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    nano_cpus: int | None = None
    mem_limit: int | None = None
    network: str | None = None
    """The Docker network to join (the sandbox); None for app containers."""
    network_mode: str | None = None
    """`container:<sandbox id>` for app containers: they share the sandbox's namespaces."""
    hostname: str | None = None
    tty: bool = False
    stdin_open: bool = False
    stdin_once: bool = False
    security: SecurityOptions = field(default_factory=lambda: SecurityOptions())
    """User, groups, capabilities and the rest of the securityContext, as Docker options."""
    pid_mode: str | None = None
    """`host`, `container:<sandbox id>` (shareProcessNamespace) or `container:<target id>`
    (an ephemeral container's `targetContainerName`); None: a PID namespace of its own."""
    ipc_mode: str | None = None
    """`shareable` (a sandbox), `container:<sandbox id>` (its containers) or `host`."""
    sysctls: dict[str, str] = field(default_factory=dict)
    """Namespaced sysctls (a sandbox's, for the whole pod)."""
    port_bindings: dict[str, tuple[str, int]] = field(default_factory=dict)
    """`<port>/<protocol>` → (host IP, host port): a sandbox's hostPorts."""


@dataclass(frozen=True)
class Container:
    """One container as the runtime last saw it."""

    id: str
    name: str
    labels: dict[str, str]
    image: str
    image_id: str
    state: State
    exit_code: int | None = None
    started_at: float | None = None
    """Unix time; None when it never started."""
    finished_at: float | None = None
    oom_killed: bool = False
    error: str = ""
    ip: str | None = None
    """The IP on the pods' network (sandboxes only)."""

    @property
    def pod_uid(self) -> str:
        return self.labels.get(LABEL_POD_UID, "")

    @property
    def container_name(self) -> str:
        """The pod's container name, or `POD` for the sandbox."""
        return self.labels.get(LABEL_CONTAINER, "")

    @property
    def is_sandbox(self) -> bool:
        return self.container_name == SANDBOX

    @property
    def attempt(self) -> int:
        try:
            return int(self.labels.get(LABEL_ATTEMPT, "0"))
        except ValueError:
            return 0

    @property
    def pod_key(self) -> str:
        return f"{self.labels.get(LABEL_NAMESPACE, '')}/{self.labels.get(LABEL_POD, '')}"


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a container's resource usage (what cAdvisor gives the kubelet)."""

    timestamp: float
    """Unix time of the sample."""
    cpu_usage_ns: int
    """CPU time used since the container started, in core-nanoseconds (cumulative)."""
    memory_working_set: int
    """Memory in use that cannot be reclaimed under pressure: usage minus inactive file."""
    memory_usage: int
    memory_rss: int


class PullError(Exception):
    """An image pull failed; `unreachable` when the registry could not be reached at all."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


class RuntimeError_(Exception):
    """Creating, starting or stopping a container failed."""


class ExecSession(Protocol):
    """A command running in a container (or an attachment to one), its output streamed."""

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, bytes) pairs; stream 1 is stdout, 2 is stderr."""
        ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def exit_code(self) -> int:
        """The command's exit code once its output has ended (0 for an attachment)."""
        ...

    async def resize(self, width: int, height: int) -> None:
        """The terminal's new size (a TTY session)."""
        ...

    async def close(self) -> None: ...


class Runtime(Protocol):
    name: str
    cluster_id: str
    """Stamped on (and required of) every container; see `LABEL_CLUSTER`."""

    async def version(self) -> str:
        """`docker://20.10.24`, as the Node's containerRuntimeVersion."""
        ...

    async def ensure_network(self, name: str, subnet: str) -> None: ...

    async def list_containers(self, labels: dict[str, str]) -> list[Container]:
        """All containers (running or not) carrying every one of `labels`."""
        ...

    async def image_id(self, image: str) -> str | None:
        """The local image's ID, or None when it is not present."""
        ...

    async def image_user(self, image: str) -> str | None:
        """The local image's `USER` ("" for root by default), None when it is absent."""
        ...

    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        """Pull (with registry credentials `auth`: username, password, serveraddress);
        return the image ID. Raises `PullError`."""
        ...

    async def run(self, config: ContainerConfig) -> Container:
        """Create and start a container; return it as inspected after the start."""
        ...

    async def stop(self, container_id: str, grace_seconds: int) -> None:
        """SIGTERM, then SIGKILL after `grace_seconds`; no error if it is already gone."""
        ...

    async def remove(self, container_id: str) -> None:
        """Remove (forcibly); no error if it is already gone."""
        ...

    async def exec(
        self, container_id: str, command: list[str], timeout: float
    ) -> tuple[int, bytes]:
        """Run `command` to completion: (exit code, combined output)."""
        ...

    async def exec_stream(
        self, container_id: str, command: list[str], stdin: bool, tty: bool
    ) -> ExecSession: ...

    async def stats(self, container_id: str) -> ContainerStats | None:
        """A sample of the container's usage; None when it is not running."""
        ...

    async def attach(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        """Attach to the container's own streams (`kubectl attach`)."""
        ...

    async def open_port(self, sandbox_id: str, port: int) -> socket.socket:
        """A connected, non-blocking TCP socket to `localhost:port` inside the pod's network
        namespace (the sandbox's). Raises `RuntimeError_` with the reason."""
        ...

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...
