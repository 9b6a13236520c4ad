"""The Docker runtime: the only module that imports the Docker SDK.

Every blocking SDK call runs in a thread of this runtime's own pool (`asyncio.to_thread`'s
default pool has only cpu+4 threads, too few for a burst of pods); streams (logs, exec) get a
thread each. Containers are listed with one API call and inspected only when their state
changed since the last look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors
import docker.types
import docker.utils
import docker.utils.socket

from minik8s.api import times
from minik8s.kubelet.hairpin import HairpinSetter
from minik8s.kubelet.runtime import (
    LABEL_CLUSTER,
    Container,
    ContainerConfig,
    ContainerStats,
    PullError,
    RuntimeError_,
    State,
    netns,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
UNREACHABLE_HINTS = (
    "no such host",
    "connection refused",
    "dial tcp",
    "i/o timeout",
    "network is unreachable",
    "tls handshake timeout",
    "server misbehaving",
    "temporary failure in name resolution",
    "request canceled while waiting for connection",
    "no route to host",
    "connection reset",
)
_STATES = {
    "created": State.CREATED,
    "running": State.RUNNING,
    "exited": State.EXITED,
    "dead": State.EXITED,
    "paused": State.RUNNING,
    "restarting": State.RUNNING,
}


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 with nanoseconds → Unix time; None for its zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    return times.parse_timestamp(text)


def from_inspect(info: dict[str, Any], network: str | None = None) -> Container:
    state = info.get("State") or {}
    config = info.get("Config") or {}
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    ip = None
    for name, net in networks.items():
        if (network is None or name == network) and net.get("IPAddress"):
            ip = net["IPAddress"]
            break
    return Container(
        id=info["Id"],
        name=str(info.get("Name", "")).lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        image=str(config.get("Image") or ""),
        image_id=str(info.get("Image") or ""),
        state=_STATES.get(str(state.get("Status")), State.UNKNOWN),
        exit_code=state.get("ExitCode"),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or ""),
        ip=ip,
    )


def stats_from_docker(raw: dict[str, Any]) -> ContainerStats | None:
    """A Docker stats document (cgroup v1 or v2) as a sample; None for a stopped container."""
    cpu = ((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    memory = raw.get("memory_stats") or {}
    if cpu is None or "usage" not in memory:
        return None
    details = memory.get("stats") or {}
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
    usage = int(memory.get("usage") or 0)
    rss = int(details.get("total_rss", details.get("anon", 0)) or 0)
    stamp = parse_time(raw.get("read")) or time.time()
    return ContainerStats(
        timestamp=stamp,
        cpu_usage_ns=int(cpu),
        memory_working_set=max(0, usage - int(inactive or 0)),
        memory_usage=usage,
        memory_rss=rss,
    )


def _exposed(bindings: dict[str, tuple[str, int]]) -> list[tuple[int, str]] | None:
    """The `<port>/<protocol>` keys of port bindings as the SDK's (port, protocol) pairs."""
    pairs = [key.partition("/") for key in bindings]
    return [(int(port), protocol) for port, _, protocol in pairs] or None


def is_unreachable(message: str) -> bool:
    lowered = message.lower()
    return any(hint in lowered for hint in UNREACHABLE_HINTS)


class DockerRuntime:
    name = "docker"

    cluster_id: str = ""
    """Set by the kubelet once it knows its cluster; see `LABEL_CLUSTER`."""

    def __init__(self, network: str = "minik8s", threads: int = 64) -> None:
        self.network = network
        self._client = docker.from_env(timeout=120, max_pool_size=threads)
        self._api = self._client.api
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="docker")
        self._inspected: dict[str, tuple[str, Container]] = {}
        self._hairpin: HairpinSetter | None = None

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    async def version(self) -> str:
        info = await self._call(self._api.version)
        return f"docker://{info.get('Version', 'unknown')}"

    async def ensure_network(self, name: str, subnet: str) -> None:
        await self._create_network(name, subnet)
        info = await self._call(self._api.inspect_network, name)
        options = info.get("Options") or {}
        bridge = options.get("com.docker.network.bridge.name") or f"br-{info['Id'][:12]}"
        self._hairpin = HairpinSetter(bridge)

    async def _create_network(self, name: str, subnet: str) -> None:
        existing = await self._call(self._api.networks, names=[name])
        if any(n.get("Name") == name for n in existing):
            return
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            await self._call(
                self._api.create_network,
                name,
                driver="bridge",
                ipam=ipam,
                labels={"minik8s": "pods"},
            )
            logger.info("created Docker network %s (%s)", name, subnet)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise RuntimeError_(f"creating network {name}: {e.explanation}") from e

    async def list_containers(self, labels: dict[str, str]) -> list[Container]:
        node_wide = len(labels) <= 1
        if self.cluster_id:
            labels = {**labels, LABEL_CLUSTER: self.cluster_id}
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        rows = await self._call(self._api.containers, all=True, filters=filters)
        result = []
        seen = set()
        for row in rows:
            cid = row["Id"]
            seen.add(cid)
            cached = self._inspected.get(cid)
            if cached is not None and cached[0] == row.get("State"):
                result.append(cached[1])
                continue
            try:
                info = await self._call(self._api.inspect_container, cid)
            except docker.errors.NotFound:
                continue
            container = from_inspect(info, self.network)
            self._inspected[cid] = (str(row.get("State")), container)
            result.append(container)
        if node_wide:  # a node-wide list: forget containers that are gone
            for cid in [c for c in self._inspected if c not in seen]:
                del self._inspected[cid]
        return result

    async def _inspect_image(self, image: str) -> dict[str, Any] | None:
        try:
            return dict(await self._call(self._api.inspect_image, image))
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as e:
            if e.status_code == 404:
                return None
            raise

    async def image_id(self, image: str) -> str | None:
        info = await self._inspect_image(image)
        return None if info is None else str(info.get("Id") or "")

    async def image_user(self, image: str) -> str | None:
        info = await self._inspect_image(image)
        return None if info is None else str((info.get("Config") or {}).get("User") or "")

    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        repository, tag = docker.utils.parse_repository_tag(image)
        try:
            await self._call(self._api.pull, repository, tag=tag or "latest", auth_config=auth)
        except docker.errors.APIError as e:
            message = str(e.explanation or e)
            raise PullError(message, is_unreachable(message)) from e
        except docker.errors.DockerException as e:
            raise PullError(str(e), is_unreachable(str(e))) from e
        found = await self.image_id(image)
        if found is None:
            raise PullError(f"image {image} is not present after its pull", False)
        return found

    async def run(self, config: ContainerConfig) -> Container:
        try:
            return await self._create_and_start(config)
        except docker.errors.APIError as e:
            if e.status_code != 409 or "already in use" not in str(e.explanation):
                raise RuntimeError_(str(e.explanation or e)) from e
        # A container of that name is left over (a kubelet killed between create and start).
        logger.info("removing leftover container %s", config.name)
        await self.remove(config.name)
        try:
            return await self._create_and_start(config)
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e

    async def _create_and_start(self, config: ContainerConfig) -> Container:
        binds = [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in config.mounts]
        security = config.security
        host_config = self._api.create_host_config(
            network_mode=config.network_mode or config.network,
            binds=binds or None,
            nano_cpus=config.nano_cpus,
            mem_limit=config.mem_limit,
            group_add=list(security.group_add) or None,
            cap_add=list(security.cap_add) or None,
            cap_drop=list(security.cap_drop) or None,
            read_only=security.read_only or None,
            privileged=security.privileged,
            security_opt=list(security.security_opt) or None,
            pid_mode=config.pid_mode,
            ipc_mode=config.ipc_mode,
            sysctls=config.sysctls or None,
            port_bindings={k: [v] for k, v in config.port_bindings.items()} or None,
        )
        container_config = self._api.create_container_config(
            config.image,
            command=config.command,
            entrypoint=config.entrypoint,
            environment=config.env or None,
            working_dir=config.working_dir,
            labels={**config.labels, LABEL_CLUSTER: self.cluster_id}
            if self.cluster_id
            else config.labels,
            hostname=config.hostname if config.network_mode is None else None,
            user=security.user or "",
            ports=_exposed(config.port_bindings),
            host_config=host_config,
            tty=config.tty,
            stdin_open=config.stdin_open,
            detach=True,
        )
        container_config["StdinOnce"] = config.stdin_once  # the SDK has no argument for it
        created = await self._call(
            self._api.create_container_from_config, container_config, config.name
        )
        cid = created["Id"]
        try:
            await self._call(self._api.start, cid)
        except docker.errors.APIError:
            await self.remove(cid)
            raise
        if config.network == self.network and self._hairpin is not None:
            await self._hairpin.ensure()  # a new sandbox: its bridge port
        info = await self._call(self._api.inspect_container, cid)
        return from_inspect(info, self.network)

    async def stop(self, container_id: str, grace_seconds: int) -> None:
        try:
            await self._call(self._api.stop, container_id, timeout=max(0, grace_seconds))
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e

    async def remove(self, container_id: str) -> None:
        try:
            await self._call(self._api.remove_container, container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # "removal already in progress"
                raise RuntimeError_(str(e.explanation or e)) from e
        self._inspected.pop(container_id, None)

    async def exec(
        self, container_id: str, command: list[str], timeout: float
    ) -> tuple[int, bytes]:
        def run() -> tuple[int, bytes]:
            exec_id = self._api.exec_create(container_id, command, stdout=True, stderr=True)["Id"]
            output = self._api.exec_start(exec_id)
            code = self._api.exec_inspect(exec_id).get("ExitCode")
            return (code if code is not None else -1), bytes(output)

        try:
            return await asyncio.wait_for(self._call(run), timeout)
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e

    async def exec_stream(
        self, container_id: str, command: list[str], stdin: bool, tty: bool
    ) -> DockerExec:
        def start() -> tuple[str, Any]:
            exec_id = self._api.exec_create(
                container_id, command, stdout=True, stderr=True, stdin=stdin, tty=tty
            )["Id"]
            sock = self._api.exec_start(exec_id, socket=True, tty=tty)
            return exec_id, sock

        try:
            exec_id, sock = await self._call(start)
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e
        return DockerExec(self, exec_id, sock, tty)

    async def attach(self, container_id: str, stdin: bool, tty: bool) -> DockerExec:
        def start() -> tuple[Any, bool]:
            info = self._api.inspect_container(container_id)
            params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
            sock = self._api.attach_socket(container_id, params=params)
            return sock, bool((info.get("Config") or {}).get("Tty"))

        try:
            sock, container_tty = await self._call(start)
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e
        return DockerExec(self, None, sock, container_tty, container_id=container_id)

    async def resize(self, exec_id: str | None, container_id: str | None, width: int,
                     height: int) -> None:  # fmt: skip
        with contextlib.suppress(docker.errors.APIError):
            if exec_id is not None:
                await self._call(self._api.exec_resize, exec_id, height=height, width=width)
            elif container_id is not None:
                await self._call(self._api.resize, container_id, height, width)

    async def open_port(self, sandbox_id: str, port: int) -> socket.socket:
        try:
            info = await self._call(self._api.inspect_container, sandbox_id)
        except docker.errors.APIError as e:
            raise RuntimeError_(str(e.explanation or e)) from e
        pid = (info.get("State") or {}).get("Pid") or 0
        if not pid:
            raise RuntimeError_(f"the pod's sandbox {sandbox_id[:12]} is not running")
        try:
            sock = await asyncio.to_thread(netns.socket_in_netns, int(pid))
        except OSError as e:
            raise RuntimeError_(f"cannot enter the pod's network namespace: {e}") from e
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError as e:
            sock.close()
            raise RuntimeError_(
                f"failed to connect to localhost:{port} inside the pod's network namespace: "
                f"{os.strerror(e.errno) if e.errno else e}"
            ) from e
        return sock

    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]:
        def open_stream() -> Any:
            return self._api.logs(
                container_id,
                stream=True,
                follow=follow,
                timestamps=timestamps,
                tail="all" if tail is None else tail,
                since=int(since) if since is not None else None,
            )

        try:
            stream = await self._call(open_stream)
        except docker.errors.NotFound as e:
            raise RuntimeError_(f"container {container_id} not found") from e
        async for chunk in iterate_in_thread(lambda: iter(stream), stream.close):
            yield chunk

    async def stats(self, container_id: str) -> ContainerStats | None:
        """`docker stats --no-stream` of one container, one-shot (no 1 s second sample)."""
        try:
            raw = await self._call(self._api.stats, container_id, stream=False, one_shot=True)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as e:
            raise RuntimeError_(f"stats of {container_id[:12]}: {e.explanation or e}") from e
        return stats_from_docker(raw)

    async def exec_inspect(self, exec_id: str) -> int:
        info = await self._call(self._api.exec_inspect, exec_id)
        code = info.get("ExitCode")
        return -1 if code is None else int(code)


async def iterate_in_thread(
    make: Callable[[], Iterator[T]], close: Callable[[], None]
) -> AsyncIterator[T]:
    """Drain a blocking iterator in a thread of its own; closing stops it (on cancel too)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(256)

    def put(item: tuple[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def pump() -> None:
        try:
            for item in make():
                put(("item", item))
        except Exception as e:
            put(("error", e))
        put(("end", None))

    thread = threading.Thread(target=pump, name="docker-stream", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                logger.debug("stream ended with %r", value)
                return
            else:
                return
    finally:
        with contextlib.suppress(Exception):
            close()
        # Unblock a pump waiting on a full queue.
        while not queue.empty():
            queue.get_nowait()


class DockerExec:
    """A streaming `docker exec` (or `docker attach`: no exec id): frames of stdout/stderr,
    stdin writes, the exit code, terminal resizes."""

    def __init__(self, runtime: DockerRuntime, exec_id: str | None, sock: Any, tty: bool,
                 container_id: str | None = None) -> None:  # fmt: skip
        self.runtime = runtime
        self.exec_id = exec_id
        self.container_id = container_id
        self.sock = sock
        self.tty = tty
        self._raw: socket.socket = getattr(sock, "_sock", sock)

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        def frames() -> Iterator[tuple[int, bytes]]:
            for stream, data in docker.utils.socket.frames_iter(self.sock, self.tty):
                yield (1 if self.tty else int(stream)), bytes(data)

        return iterate_in_thread(frames, lambda: None)

    async def write_stdin(self, data: bytes) -> None:
        await asyncio.to_thread(self._raw.sendall, data)

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._raw.shutdown, socket.SHUT_WR)

    async def exit_code(self) -> int:
        if self.exec_id is None:
            return 0  # an attachment ends with Success
        return await self.runtime.exec_inspect(self.exec_id)

    async def resize(self, width: int, height: int) -> None:
        await self.runtime.resize(self.exec_id, self.container_id, width, height)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
