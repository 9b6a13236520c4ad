"""Termination messages: what a container leaves at its `terminationMessagePath` (by default
`/dev/termination-log`) becomes `state.terminated.message` once it exited, and with
`terminationMessagePolicy: FallbackToLogsOnError` a failed container that wrote nothing
there gets the tail of its log instead (as Kubernetes' kubelet).

Before each container starts, the kubelet creates an empty file for it,
`<pod dir>/containers/<container>/termination-log-<attempt>` (mode 0666, so a container
running as any user can write it), and bind-mounts it at the path. After the container
exited, the last 4 KiB of the file are its message (last 80 lines, 2 KiB at most, of the
log for the fallback); the status then shares 12 KiB among the pod's containers. A message is
read once per container and remembered; the files go with the pod's directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from minik8s.api.meta import Object
from minik8s.kubelet import actions, ownership
from minik8s.kubelet.runtime import Container, Mount, Runtime, RuntimeError_, State

logger = logging.getLogger(__name__)

MAX_MESSAGE = 4 * 1024
"""Bytes of the file a message holds at most (its end): MaxContainerTerminationMessageLength."""
MAX_LOG_BYTES = 2 * 1024
MAX_LOG_LINES = 80
FALLBACK = "FallbackToLogsOnError"


def host_path(pod_dir: Path, container: str, attempt: int) -> Path:
    return pod_dir / "containers" / container / f"termination-log-{attempt}"


def _prepare(path: Path) -> None:
    ownership.ensure_private_dir(path.parent.parent)
    ownership.ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    try:
        os.fchmod(fd, 0o666)  # whatever the umask: any user in the container may write it
    finally:
        os.close(fd)


async def prepare(pod_dir: Path, spec: Object, attempt: int) -> tuple[Mount, ...]:
    """The mount of a new container's termination message file (none without a path)."""
    target = str(spec.get("terminationMessagePath") or "")
    if not target:
        return ()
    path = host_path(pod_dir, str(spec["name"]), attempt)
    _prepare(path)  # two mkdirs and an empty file: inline costs less than a thread hop
    return (Mount(str(path), target, False),)


def read_file(path: Path) -> bytes | None:
    """The last `MAX_MESSAGE` bytes of the file; None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"Error on reading termination message file {path}: {e}".encode()
    with contextlib.closing(os.fdopen(fd, "rb")) as f:
        size = os.fstat(fd).st_size
        f.seek(max(0, size - MAX_MESSAGE))
        return f.read(MAX_MESSAGE)


def log_tail(data: bytes) -> bytes:
    """The last `MAX_LOG_LINES` lines of a log, `MAX_LOG_BYTES` at most (their end)."""
    lines = data.splitlines(keepends=True)[-MAX_LOG_LINES:]
    return b"".join(lines)[-MAX_LOG_BYTES:]


class TerminationMessages:
    """The messages of a node's exited containers, read once each."""

    def __init__(self, runtime: Runtime, pods_dir: Path) -> None:
        self.runtime = runtime
        self.pods_dir = pods_dir
        self._known: dict[str, dict[str, str]] = {}
        """Pod uid → container id → message."""

    async def collect(self, pod: Object, containers: Iterable[Container]) -> dict[str, str]:
        """Container id → message of the pod's exited containers the status shows."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        known = self._known.setdefault(uid, {})
        spec = pod.get("spec") or {}
        specs = {c["name"]: c for c in [*(spec.get("initContainers") or []),
                                         *(spec.get("containers") or [])]}  # fmt: skip
        shown: dict[str, str] = {}
        for name, history in actions.by_name(list(containers)).items():
            for container in history[-2:]:
                if container.state is not State.EXITED or name not in specs:
                    continue
                if container.id not in known:
                    known[container.id] = await self._read(uid, specs[name], container)
                shown[container.id] = known[container.id]
        return shown

    async def _read(self, uid: str, spec: Object, container: Container) -> str:
        data = b""
        if spec.get("terminationMessagePath"):
            path = host_path(self.pods_dir / uid, spec["name"], container.attempt)
            found = read_file(path)  # at most 4 KiB of a local file: inline, no thread hop
            data = found or b""
        failed = (container.exit_code or 0) != 0
        if not data and failed and spec.get("terminationMessagePolicy") == FALLBACK:
            data = log_tail(await self._logs(container.id))
        return data.decode(errors="replace")

    async def _logs(self, container_id: str) -> bytes:
        chunks: list[bytes] = []
        try:
            async for chunk in self.runtime.logs(container_id, tail=MAX_LOG_LINES):
                chunks.append(chunk)
        except RuntimeError_ as e:
            return f"Error on reading termination message from logs: {e}".encode()
        return b"".join(chunks)

    def forget(self, uid: str) -> None:
        self._known.pop(uid, None)
