"""One process of the cluster, fully resolved: what `up` starts and the supervisor restarts.

Apart from the component table (`components`, which builds them) so that the supervisor, which
only starts what `up` listed, does not import what building them needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instance:
    """One process of the cluster, fully resolved."""

    name: str
    """Name of its pid and log files (`etcd`, `apiserver`, `kubelet-node-1`)."""
    argv: list[str]
    """Command line; it always mentions the home directory, which marks the process as ours."""
    health_url: str | None
    """URL that answers 200 once the process is ready; None: running is enough."""
    ready_timeout: float
    """How long `up` waits for it to be ready."""
    ca_file: Path | None = None
    """CA that signed the certificate of its health URL, when that URL is https."""
    client_cert: tuple[Path, Path] | None = None
    """Certificate and key to present to its health URL (etcd accepts no client without)."""
    together: bool = False
    """Started with its fellow members before any is waited for (etcd members)."""
