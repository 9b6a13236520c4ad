"""What a cluster remembers between runs (`cluster.json`): its ports and node counts.

Ports default to Kubernetes' usual ones (etcd 2379/2380, apiserver 6443). When a port is
taken by a process that is not ours, a free one is picked and remembered, so a later `up`
(and the kubeconfig) keep using it.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from minik8s.cli.launcher import network
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings

LOOPBACK = "127.0.0.1"
"""Every component listens on loopback only (the cluster never leaves this machine), but for
the control-plane endpoint when one is given (`--control-plane-endpoint`: the apiserver, or
HAProxy in front of several, listens there too)."""


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
    control_plane: int = 1
    """Control-plane members: 1, or 3 (three etcd members, three apiservers behind HAProxy,
    two leader-elected schedulers, controller-managers and cloud controllers)."""
    apiserver_ports: tuple[int, ...] = ()
    """With several members: each apiserver's own port (`apiserver_port` is then the load
    balancer's: the cluster's endpoint)."""
    etcd_member_ports: tuple[int, ...] = ()
    """With several members: client and peer port of etcd members 2… in turn (member 1 has
    `etcd_port` and `etcd_peer_port`)."""
    control_plane_endpoint: str = ""
    """`HOST` or `HOST:PORT` where other machines reach the control plane (kubeadm's
    `controlPlaneEndpoint`; the port defaults to `apiserver_port`); "": loopback only."""

    @property
    def endpoint(self) -> tuple[str, int] | None:
        """(host, port) of the control-plane endpoint, None without one."""
        if not self.control_plane_endpoint:
            return None
        return parse_endpoint(self.control_plane_endpoint, self.apiserver_port)

    @property
    def join_url(self) -> str:
        """Where nodes join (`cluster-info`'s server): the endpoint, else loopback's."""
        found = self.endpoint
        return self.apiserver_url if found is None else f"https://{found[0]}:{found[1]}"

    @property
    def allocates_node_cidrs(self) -> bool:
        """Nodes of other machines can join: the controller-manager gives each Node a podCIDR
        (their kubelets' `--pod-subnet-from-node`, the host-gw agent's routes)."""
        return self.endpoint is not None

    @property
    def highly_available(self) -> bool:
        """Several control-plane members, HAProxy in front of their apiservers."""
        return self.control_plane > 1

    @property
    def etcd_members(self) -> list[tuple[str, int, int]]:
        """(name, client port, peer port) of every etcd member (`minik8s` alone)."""
        if not self.highly_available:
            return [("minik8s", self.etcd_port, self.etcd_peer_port)]
        extra = self.etcd_member_ports
        return [("etcd-1", self.etcd_port, self.etcd_peer_port)] + [
            (f"etcd-{i + 2}", extra[2 * i], extra[2 * i + 1]) for i in range(len(extra) // 2)
        ]

    def etcd_client_url(self, member: int) -> str:
        """Member `member`'s (1…) client URL."""
        return f"https://{LOOPBACK}:{self.etcd_members[member - 1][1]}"

    def etcd_member_peer_url(self, member: int) -> str:
        """Member `member`'s (1…) peer URL: TLS between members of an HA cluster."""
        scheme = "https" if self.highly_available else "http"
        return f"{scheme}://{LOOPBACK}:{self.etcd_members[member - 1][2]}"

    def etcd_servers(self, first: int = 1) -> str:
        """`--etcd-servers` of an apiserver: every member, member `first` first."""
        urls = [self.etcd_client_url(i) for i in range(1, len(self.etcd_members) + 1)]
        return ",".join(urls[first - 1 :] + urls[: first - 1])

    def apiserver_member_port(self, member: str | None) -> int:
        """The port apiserver `member` ("1"…) listens on (the endpoint's alone)."""
        if member is None or not self.apiserver_ports:
            return self.apiserver_port
        return self.apiserver_ports[int(member) - 1]

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


def parse_endpoint(value: str, default_port: int) -> tuple[str, int]:
    """`HOST[:PORT]` -> (host, port); HOST must be an IPv4 address this machine can listen on
    (not loopback, not 0.0.0.0): LauncherError otherwise."""
    host, sep, port_text = value.strip().partition(":")
    what = f"--control-plane-endpoint {value!r}"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise LauncherError(f"{what}: HOST must be an IPv4 address (HOST[:PORT])") from None
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        raise LauncherError(
            f"{what}: use an address other machines reach (not loopback, 0.0.0.0 or multicast)"
        )
    if not sep:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LauncherError(f"{what}: PORT must be 1-65535")
    return host, int(port_text)


def load(path: Path) -> ClusterState | None:
    """The remembered state, or None when there is none yet."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LauncherError(f"cannot read {path}: {e} (fix or remove it)") from e
    defaults = asdict(ClusterState())
    if not isinstance(raw, dict) or not all(
        _valid(defaults[k], v) for k, v in raw.items() if k in defaults
    ):
        raise LauncherError(f"{path} is not a minik8s cluster state (fix or remove it)")
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in defaults
    }
    return ClusterState(**values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid(default: object, value: object) -> bool:
    """A remembered value has its field's type (ports: lists of ints in JSON)."""
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, tuple):
        return isinstance(value, list) and all(_is_int(v) for v in value)
    return _is_int(value)


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


def _free_ports(count: int, avoid: Collection[int]) -> tuple[int, ...]:
    found: list[int] = []
    while len(found) < count:
        found.append(free_port(avoid=[*avoid, *found]))
    return tuple(found)


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
    has_data: bool = False,
) -> tuple[ClusterState, list[str]]:
    """Choose ports and node counts for `up`; return them and notes worth telling the user.

    A component that already runs (`running` holds its name) keeps its port. A port asked
    for explicitly must be free; a default or remembered one that is taken by another
    process is replaced by a free one. The members' own ports (`--control-plane 3`) are
    picked free once and remembered; the number of members changes only on a new cluster
    (`has_data`: etcd holds one already).
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
    control_plane = base.control_plane if settings.control_plane is None else settings.control_plane
    if control_plane not in (1, 3):
        raise LauncherError("--control-plane must be 1 or 3")
    if control_plane != base.control_plane and (running or has_data):
        raise LauncherError(
            f"this cluster has {base.control_plane} control-plane member(s): "
            "`minik8s down --purge` first to change it"
        )
    apiserver_ports, etcd_member_ports = base.apiserver_ports, base.etcd_member_ports
    if control_plane > 1:
        taken = [*chosen.values()]
        if len(apiserver_ports) != control_plane:
            apiserver_ports = _free_ports(control_plane, taken)
        taken += apiserver_ports
        if len(etcd_member_ports) != 2 * (control_plane - 1):
            etcd_member_ports = _free_ports(2 * (control_plane - 1), taken)
    else:
        apiserver_ports, etcd_member_ports = (), ()
    endpoint = base.control_plane_endpoint
    if settings.control_plane_endpoint is not None:
        endpoint = settings.control_plane_endpoint.strip()
    state = replace(
        base,
        **chosen,
        control_plane_endpoint=endpoint,
        nodes=base.nodes if settings.nodes is None else settings.nodes,
        fake_nodes=base.fake_nodes if settings.fake_nodes is None else settings.fake_nodes,
        control_plane=control_plane,
        apiserver_ports=apiserver_ports,
        etcd_member_ports=etcd_member_ports,
    )
    if state.nodes < 0 or state.fake_nodes < 0:
        raise LauncherError("--nodes and --fake-nodes must be 0 or more")
    found = state.endpoint  # validates it
    if found is not None and not state.highly_available and found[1] != state.apiserver_port:
        raise LauncherError(
            f"--control-plane-endpoint {endpoint}: with one apiserver the endpoint's port is the "
            f"apiserver's ({state.apiserver_port}; --apiserver-port chooses it)"
        )
    return state, notes
