"""A hollow runtime (like kubemark's): containers exist only in memory and run forever.

The same pod workers, status manager and node code run on top of it, so a machine can host
many hollow nodes to benchmark the control plane. Sandboxes get fake IPs from 10.250.0.0/16
(never routed: nothing connects to them). Commands "run" instantly: exec answers exit 0, and
a streaming exec or attach echoes its stdin to stdout until stdin closes (like `cat`). A hollow
pod shares the host's loopback for port forwarding: its port N is 127.0.0.1:N.
A container whose command is `true`, `false` or `sh -c "exit N"` exits at once with that code
(so Jobs complete on hollow nodes); any other runs until stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from minik8s.kubelet.runtime import (
    LABEL_POD_UID,
    Container,
    ContainerConfig,
    ContainerStats,
    RuntimeError_,
    State,
)

_ips = itertools.count(1)


class FakeExec:
    """Echoes stdin to stdout (like `cat`) until stdin closes; no stdin: ends at once."""

    def __init__(self, stdin: bool = False) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.sizes: list[tuple[int, int]] = []
        if not stdin:
            self._queue.put_nowait(None)

    async def _frames(self) -> AsyncIterator[tuple[int, bytes]]:
        while (data := await self._queue.get()) is not None:
            yield 1, data

    def output(self) -> AsyncIterator[tuple[int, bytes]]:
        return self._frames()

    async def write_stdin(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    async def close_stdin(self) -> None:
        self._queue.put_nowait(None)

    async def exit_code(self) -> int:
        return 0

    async def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def close(self) -> None:
        self._queue.put_nowait(None)


def exit_code_of(command: list[str]) -> int | None:
    """The exit code of a command that ends at once (`true`, `false`, `sh -c "exit N"`)."""
    if command in (["true"], ["/bin/true"]):
        return 0
    if command in (["false"], ["/bin/false"]):
        return 1
    if len(command) == 3 and command[0] in ("sh", "/bin/sh") and command[1] == "-c":
        words = command[2].split()
        if len(words) == 2 and words[0] == "exit" and words[1].isdigit():
            return int(words[1]) % 256
    return None


class FakeRuntime:
    name = "fake"

    cluster_id: str = ""

    def __init__(self) -> None:
        self.containers: dict[str, Container] = {}
        self._by_pod: dict[str, dict[str, None]] = {}
        """Pod uid → its container ids (in creation order): a pod's sync lists only its own."""

    async def version(self) -> str:
        return "fake://0.1"

    async def ensure_network(self, name: str, subnet: str) -> None:
        pass

    async def list_containers(self, labels: dict[str, str]) -> list[Container]:
        uid = labels.get(LABEL_POD_UID)
        candidates = (
            self.containers.values()
            if uid is None
            else [self.containers[cid] for cid in self._by_pod.get(uid, ())]
        )
        return [c for c in candidates if all(c.labels.get(k) == v for k, v in labels.items())]

    async def image_id(self, image: str) -> str | None:
        return f"sha256:fake-{image}"

    async def image_user(self, image: str) -> str | None:
        return ""

    async def pull_image(self, image: str, auth: dict[str, str] | None = None) -> str:
        return f"sha256:fake-{image}"

    async def run(self, config: ContainerConfig) -> Container:
        await asyncio.sleep(0)
        ip = None
        if config.network_mode is None:
            n = next(_ips)
            ip = f"10.250.{(n >> 8) & 255}.{n & 255}"
        now = time.time()
        container = Container(
            id=os.urandom(32).hex(),  # 64 hex digits, as Docker's ids
            name=config.name,
            labels=dict(config.labels),
            image=config.image,
            image_id=f"sha256:fake-{config.image}",
            state=State.RUNNING,
            started_at=now,
            ip=ip,
        )
        code = exit_code_of([*(config.entrypoint or []), *(config.command or [])])
        if code is not None:
            container = replace(container, state=State.EXITED, exit_code=code, finished_at=now)
        self.containers[container.id] = container
        self._by_pod.setdefault(config.labels.get(LABEL_POD_UID, ""), {})[container.id] = None
        return container

    async def stop(self, container_id: str, grace_seconds: int) -> None:
        c = self.containers.get(container_id)
        if c is not None and c.state is State.RUNNING:
            self.containers[container_id] = replace(
                c, state=State.EXITED, exit_code=137, finished_at=time.time(), ip=None
            )

    async def remove(self, container_id: str) -> None:
        container = self.containers.pop(container_id, None)
        if container is not None:
            uid = container.labels.get(LABEL_POD_UID, "")
            ids = self._by_pod.get(uid, {})
            ids.pop(container_id, None)
            if not ids:
                self._by_pod.pop(uid, None)

    async def exec(
        self, container_id: str, command: list[str], timeout: float
    ) -> tuple[int, bytes]:
        if container_id not in self.containers:
            raise RuntimeError_(f"container {container_id} not found")
        return 0, b""

    async def exec_stream(
        self, container_id: str, command: list[str], stdin: bool, tty: bool
    ) -> FakeExec:
        if container_id not in self.containers:
            raise RuntimeError_(f"container {container_id} not found")
        return FakeExec(stdin)

    async def attach(self, container_id: str, stdin: bool, tty: bool) -> FakeExec:
        if container_id not in self.containers:
            raise RuntimeError_(f"container {container_id} not found")
        return FakeExec(stdin)

    async def open_port(self, sandbox_id: str, port: int) -> socket.socket:
        if sandbox_id not in self.containers:
            raise RuntimeError_(f"sandbox {sandbox_id} not found")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except OSError as e:
            sock.close()
            raise RuntimeError_(
                f"failed to connect to localhost:{port}: {os.strerror(e.errno) if e.errno else e}"
            ) from e
        return sock

    async def stats(self, container_id: str) -> ContainerStats | None:
        """Plausible figures: each container burns a steady few millicores (2-40m) and holds
        a steady 6-60 MiB, both derived from its id, since it started."""
        c = self.containers.get(container_id)
        if c is None or c.state is not State.RUNNING or c.started_at is None:
            return None
        seed = int(container_id[:8], 16)
        millicores = 2 + seed % 39
        working_set = (6 + (seed >> 8) % 55) * 1024 * 1024
        now = time.time()
        return ContainerStats(
            timestamp=now,
            cpu_usage_ns=int((now - c.started_at) * millicores * 1_000_000),
            memory_working_set=working_set,
            memory_usage=working_set + 4 * 1024 * 1024,
            memory_rss=working_set,
        )

    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: float | None = None,
    ) -> AsyncIterator[bytes]:
        if container_id not in self.containers:
            raise RuntimeError_(f"container {container_id} not found")
        return
        yield

    async def close(self) -> None:
        pass
