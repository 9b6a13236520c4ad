"""One kubelet per node: a lock file held for the life of the process (Kubernetes' `--lock-file`
with `--exit-on-lock-contention`, always on here).

Two kubelets with the same node name in the same cluster on one host would adopt and remove
each other's containers and overwrite each other's Node status. The lock is named after the
cluster (the uid of its kube-system namespace, as the containers' `minik8s.cluster` label) and
the node, in `/run/minik8s` (the kubelet's own root dir when that is not writable): the second
kubelet sees it held and refuses to start with one line naming the holder.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from minik8s.componentbase.runner import StartupError

RUN_DIR = Path("/run/minik8s")


def default_path(cluster_id: str, node: str, fallback_dir: Path) -> Path:
    name = f"kubelet-{cluster_id}-{node}.lock"
    directory = RUN_DIR if os.access(RUN_DIR.parent, os.W_OK) else fallback_dir
    return directory / name


def acquire(path: Path, node: str) -> IO[str]:
    """Hold the lock (released when the returned file is closed or the process ends), or raise
    `StartupError` naming the process that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise StartupError(
            f'node "{node}" is already run by another kubelet of this cluster (pid {holder}, '
            f"lock {path}): refusing to start a second one"
        ) from None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
