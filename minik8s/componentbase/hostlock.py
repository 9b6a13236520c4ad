"""One process of a kind per host: kube-proxy (iptables) and the cloud controller's local
provider (the load balancer pool's route) hold a lock file while they change the host; a
second one (another cluster's) waits as a standby, and a cleanup leaves alone what a running
one still uses."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


def try_lock(path: Path) -> IO[str] | None:
    """Take the exclusive lock on `path`; None if another process holds it. The lock lasts as
    long as the returned file stays open (the kernel drops it when the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # held open (locked) for as long as the caller keeps it
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.truncate(0)
    f.write(str(os.getpid()))
    f.flush()
    return f
