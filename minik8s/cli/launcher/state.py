"""What a cluster remembers between runs (`cluster.json`): its ports and node counts.

Ports default to Kubernetes' usual ones (etcd 2379/2380, apiserver 6443). When a port is
taken by a process that is not ours, a free one is picked and remembered, so a later `up`
(and the kubeconfig) keep using it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from minik8s.cli.launcher import network
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings

LOOPBACK = "127.0.0.1"
"""Every component listens on loopback only: the cluster never leaves this machine."""


@dataclass(frozen=True)
class ClusterState:
    """The resolved shape of the cluster, saved as `cluster.json`."""

    etcd_port: int = 2379
    """etcd client port."""
    etcd_peer_port: int = 2380
    """etcd peer port."""
    apiserver_port: int = 6443
    """apiserver port (HTTPS with the cluster's CA, bearer token)."""
    dns_port: int = 53
    """Port of the cluster DNS on the host's pod-network address (UDP and TCP)."""
    dns_metrics_port: int = 9153
    """Port of the DNS's /healthz, /readyz and /metrics on loopback (CoreDNS's metrics port)."""
    dashboard_port: int = 9090
    """dashboard port (HTTP on loopback; the Kubernetes dashboard's 9090)."""
    nodes: int = 1
    """Nodes with a real kubelet."""
    fake_nodes: int = 0
    """Hollow nodes."""

    @property
    def etcd_url(self) -> str:
        """etcd's client URL: TLS, and only clients with a certificate of etcd's own CA (the
        apiserver's) get in."""
        return f"https://{LOOPBACK}:{self.etcd_port}"

    @property
    def etcd_peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.etcd_peer_port}"

    @property
    def apiserver_url(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def dns_health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dns_metrics_port}/readyz"

    @property
    def dashboard_url(self) -> str:
        return f"http://{LOOPBACK}:{self.dashboard_port}"


def load(path: Path) -> ClusterState | None:
    """The remembered state, or None when there is none yet."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LauncherError(f"cannot read {path}: {e} (fix or remove it)") from e
    known = {f.name for f in fields(ClusterState)}
    if not isinstance(raw, dict) or not all(
        isinstance(v, int) for k, v in raw.items() if k in known
    ):
        raise LauncherError(f"{path} is not a minik8s cluster state (fix or remove it)")
    return ClusterState(**{k: v for k, v in raw.items() if k in known})


def save(path: Path, state: ClusterState) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(tmp, path)


IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def port_free(port: int, host: str = LOOPBACK, udp: bool = False) -> bool:
    """True if a server could listen on host:port now (as etcd and uvicorn do; with `udp`,
    over UDP too). An address the host does not have yet is tried with IP_FREEBIND."""
    kinds = [socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp else [socket.SOCK_STREAM]
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if host != LOOPBACK:
                s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            try:
                s.bind((host, port))
            except OSError as e:
                if e.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
    return True


def free_port(avoid: Collection[int] = (), host: str = LOOPBACK, udp: bool = False) -> int:
    """A port the kernel says is free on host (loopback), other than those in `avoid`."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if port not in avoid and port_free(port, host, udp):
            return port
    raise LauncherError(f"could not find a free port on {host}")


_PORTS: tuple[tuple[str, str, str, str, bool], ...] = (
    # (field, owning component, what it is, host, UDP too)
    ("etcd_port", "etcd", "etcd client port", LOOPBACK, False),
    ("etcd_peer_port", "etcd", "etcd peer port", LOOPBACK, False),
    ("apiserver_port", "apiserver", "apiserver port", LOOPBACK, False),
    ("dns_port", "dns", "DNS port", network.pod_gateway(), True),
    ("dns_metrics_port", "dns", "DNS metrics port", LOOPBACK, False),
    ("dashboard_port", "dashboard", "dashboard port", LOOPBACK, False),
)


def resolve(
    settings: LauncherSettings,
    remembered: ClusterState | None,
    running: Collection[str],
) -> tuple[ClusterState, list[str]]:
    """Choose ports and node counts for `up`; return them and notes worth telling the user.

    A component that already runs (`running` holds its name) keeps its port. A port asked
    for explicitly must be free; a default or remembered one that is taken by another
    process is replaced by a free one.
    """
    base = remembered or ClusterState()
    notes: list[str] = []
    chosen: dict[str, int] = {}
    for name, owner, what, host, udp in _PORTS:
        current: int = getattr(base, name)
        wanted: int | None = getattr(settings, name, None)
        if owner in running:
            if wanted is not None and wanted != current:
                notes.append(
                    f"{owner} already runs with {what} {current}; "
                    f"run `minik8s down` first to move it to {wanted}"
                )
            chosen[name] = current
        elif wanted is not None:
            if wanted in chosen.values():
                raise LauncherError(
                    f"{what} {wanted} is also asked for another port of the cluster"
                )
            if not port_free(wanted, host, udp):
                raise LauncherError(f"{what} {wanted} is in use by another process")
            chosen[name] = wanted
        elif current in chosen.values() or not port_free(current, host, udp):
            port = free_port(avoid=chosen.values(), host=host, udp=udp)
            notes.append(f"{what} {current} is taken by another process: using {port}")
            chosen[name] = port
        else:
            chosen[name] = current
    state = replace(
        base,
        **chosen,
        nodes=base.nodes if settings.nodes is None else settings.nodes,
        fake_nodes=base.fake_nodes if settings.fake_nodes is None else settings.fake_nodes,
    )
    if state.nodes < 0 or state.fake_nodes < 0:
        raise LauncherError("--nodes and --fake-nodes must be 0 or more")
    return state, notes
