"""Settings of kube-proxy and their command-line flags (kube-proxy's names where they exist)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProxySettings:
    node_name: str
    """Name of the node this proxy serves (traffic policy `Local` keeps to its endpoints)."""
    kubeconfig: str | None = None
    """Kubeconfig to reach the apiserver (default: $KUBECONFIG or ~/.kube/config)."""
    cluster_cidr: str | None = "10.244.0.0/16"
    """Pod network; traffic to a ClusterIP from outside it is masqueraded (None: masquerade all)."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """Service CIDR, routed to `bridge_name` before any rule is written."""
    bridge_name: str = "minik8s-svc"
    """Local bridge that owns the Service CIDR route, so a Service IP never leaves the machine."""
    healthz_port: int = 10256
    """Port of /healthz and /metrics (0: any free port; -1: none)."""
    healthz_bind_address: str = "127.0.0.1"
    """Address /healthz and /metrics listen on."""
    min_sync_period: float = 1.0
    """Shortest time between two syncs: changes arriving faster are coalesced."""
    sync_period: float = 30.0
    """Longest time between two syncs: a full resync rewrites every chain."""
    restore_budget: int = 1000
    """Distinct jump targets one iptables-restore transaction may mention with a smaller name
    than the chain jumping to them (iptables-nft's restore is quadratic in those, see
    `restore`); a sync within it is one atomic call, a larger one is staged."""
    restore_parallel: int = 2
    """iptables-restore processes a staged sync runs at once."""
    state_file: Path = Path("/run/minik8s/proxy-state.json")
    """Where the sysctl values found before this proxy changed them are kept for `--cleanup`."""
    lock_file: Path = Path("/run/minik8s-proxy.lock")
    """Held while a proxy (or its cleanup) runs: one proxy per host, as they share iptables."""
    cleanup: bool = False
    """Remove every chain, jump, route and interface this proxy created, then exit."""
    log_level: str = "info"

    @property
    def healthz_timeout(self) -> float:
        """/healthz fails when no sync succeeded for this long (kube-proxy: 2 x sync period)."""
        return 2 * self.sync_period + 30


def _cidr(text: str) -> str:
    if not text:
        return ""
    try:
        return str(ipaddress.IPv4Network(text, strict=True))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an IPv4 CIDR: {text!r} ({e})") from e


def _positive(text: str) -> float:
    value = float(text.rstrip("s"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def _verbosity(level: int) -> str:
    """klog's `--v`: 0-3 info, 4 and more debug."""
    return "debug" if level >= 4 else "info"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minik8s-proxy",
        description="Programs iptables for ClusterIP, NodePort and LoadBalancer Services.",
    )
    p.add_argument("--kubeconfig", help="kubeconfig of the apiserver")
    p.add_argument("--node-name", "--hostname-override", dest="node_name",
                   default=socket.gethostname(), help="this node's name")  # fmt: skip
    p.add_argument("--cluster-cidr", type=_cidr, default="10.244.0.0/16",
                   help="pod network; '' masquerades all Service traffic")  # fmt: skip
    p.add_argument("--service-cluster-ip-range", type=_cidr, default="10.96.0.0/16")
    p.add_argument("--bridge-name", default="minik8s-svc")
    p.add_argument("--healthz-port", type=int, default=10256)
    p.add_argument("--healthz-bind-address", default="127.0.0.1")
    p.add_argument("--min-sync-period", type=_positive, default=1.0, help="seconds")
    p.add_argument("--sync-period", type=_positive, default=30.0, help="seconds")
    p.add_argument(
        "--restore-budget",
        type=int,
        default=1000,
        help="smaller-named jump targets per iptables-restore transaction",
    )
    p.add_argument(
        "--restore-parallel",
        type=int,
        default=2,
        help="iptables-restore processes a large sync runs at once",
    )
    p.add_argument("--state-file", type=Path, default=Path("/run/minik8s/proxy-state.json"))
    p.add_argument("--lock-file", type=Path, default=Path("/run/minik8s-proxy.lock"))
    p.add_argument(
        "--cleanup", action="store_true", help="remove the proxy's rules, route and bridge; exit"
    )
    p.add_argument("--v", type=int, default=2, help="log verbosity (>= 4: debug)")
    return p


def parse_args(argv: list[str] | None = None) -> ProxySettings:
    args = build_parser().parse_args(argv)
    return ProxySettings(
        node_name=args.node_name,
        kubeconfig=args.kubeconfig,
        cluster_cidr=args.cluster_cidr or None,
        service_cluster_ip_range=args.service_cluster_ip_range,
        bridge_name=args.bridge_name,
        healthz_port=args.healthz_port,
        healthz_bind_address=args.healthz_bind_address,
        min_sync_period=args.min_sync_period,
        sync_period=max(args.sync_period, args.min_sync_period),
        restore_budget=max(1, args.restore_budget),
        restore_parallel=max(1, args.restore_parallel),
        state_file=args.state_file,
        lock_file=args.lock_file,
        cleanup=args.cleanup,
        log_level=_verbosity(args.v),
    )
