"""Settings of the launcher (one dataclass) and where its files live under the home directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "MINIK8S_HOME"
DEFAULT_HOME = Path("~/.minik8s")


def default_home() -> Path:
    """`$MINIK8S_HOME`, else `~/.minik8s`."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


@dataclass(frozen=True)
class LauncherSettings:
    """Everything `minik8s up/down/status/logs` can be told; timeouts are in seconds."""

    home: Path
    """Directory holding logs, pid files, etcd data, the token, the kubeconfig and cluster.json."""
    etcd_port: int | None = None
    """etcd client port; None: the remembered one, else 2379, else a free one if 2379 is taken."""
    etcd_peer_port: int | None = None
    """etcd peer port; None: the remembered one, else 2380, else a free one if 2380 is taken."""
    apiserver_port: int | None = None
    """apiserver port; None: the remembered one, else 6443, else a free one if 6443 is taken."""
    dashboard_port: int | None = None
    """dashboard port; None: the remembered one, else 9090, else a free one if 9090 is taken."""
    nodes: int | None = None
    """Nodes with a real kubelet (node-1…); None: the remembered number, else 1."""
    fake_nodes: int | None = None
    """Hollow nodes with a fake runtime (fake-node-1…); None: the remembered number, else 0."""
    control_plane: int | None = None
    """Control-plane members, 1 or 3 (`--control-plane`); None: the remembered number, else 1."""
    control_plane_endpoint: str | None = None
    """`HOST[:PORT]` other machines reach the control plane at (kubeadm's
    `--control-plane-endpoint`; "": none, loopback only); None: the remembered one, else none."""
    dns_upstream: str | None = None
    """Upstream resolvers of the cluster DNS, comma-separated `IP[:PORT]` or a resolv.conf
    path ("": none, names outside the cluster fail); None: this host's /etc/resolv.conf."""
    etcd_binary: str = "etcd"
    """etcd executable, a name looked up on PATH or a path."""
    etcd_ready_timeout: float = 30.0
    """How long `up` waits for etcd to answer /health."""
    apiserver_ready_timeout: float = 60.0
    """How long `up` waits for the apiserver to answer /readyz."""
    component_ready_timeout: float = 30.0
    """How long `up` waits for any other component to come up (or stay up)."""
    stop_timeout: float = 15.0
    """How long `down` waits after SIGTERM before it sends SIGKILL."""
    kill_timeout: float = 5.0
    """How long `down` waits after SIGKILL before it gives up on a process."""
    nodes_ready_timeout: float = 120.0
    """How long `up` waits for every node to report Ready."""
    probe_timeout: float = 2.0
    """Timeout of one health or version HTTP request."""
    poll_interval: float = 0.1
    """Pause between two checks of a process or endpoint during waits."""
    log_tail_lines: int = 20
    """Lines of a component's log printed when it dies or does not become healthy."""

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def etcd_data_dir(self) -> Path:
        return self.home / "etcd"

    def etcd_member_data_dir(self, member: int) -> Path:
        """Data of etcd member `member` (1…) of a cluster of several control-plane members."""
        return self.home / f"etcd-{member}"

    @property
    def loadbalancer_config(self) -> Path:
        """HAProxy's configuration (`up` writes it) in front of several apiservers."""
        return self.home / "haproxy.cfg"

    @property
    def loadbalancer_socket(self) -> Path:
        """HAProxy's stats socket (mode 0600): `status` reads which apiservers are UP."""
        return self.run_dir / "haproxy.sock"

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def kubelet_root_dir(self) -> Path:
        """The kubelets' `--root-dir`: pod volumes (secret and token volumes are tmpfs)."""
        return self.home / "kubelet"

    @property
    def encryption_config_file(self) -> Path:
        """The apiserver's EncryptionConfiguration (mode 0600): Secrets are encrypted in etcd."""
        return self.home / "encryption-config.yaml"

    @property
    def audit_policy_file(self) -> Path:
        """The apiserver's audit Policy (Metadata level; `up` writes it once)."""
        return self.home / "audit-policy.yaml"

    @property
    def audit_log_file(self) -> Path:
        """The apiserver's audit log (JSON lines, mode 0600, rotated at 100 MB)."""
        return self.logs_dir / "audit.log"

    @property
    def dashboard_dir(self) -> Path:
        """The dashboard's one-time logins (`grants/`) and its audit webhook's files (0700)."""
        return self.home / "dashboard"

    @property
    def tokens_file(self) -> Path:
        """Where clusters made before per-component certificates kept an admin token."""
        return self.home / "tokens.csv"

    @property
    def kubeconfig_file(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.home / "cluster.json"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"
