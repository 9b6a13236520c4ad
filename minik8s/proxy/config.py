"""Settings of kube-proxy and their command-line flags (kube-proxy's names where they exist)."""

from __future__ import annotations

import argparse
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.componentbase import options


@dataclass(frozen=True)
class ProxySettings:
    node_name: str
    """Name of the node this proxy serves (traffic policy `Local` keeps to its endpoints)."""
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """How to reach the apiserver (`--kubeconfig`, `--master`)."""
    cluster_cidr: str | None = "10.244.0.0/16"
    """Pod network; traffic to a ClusterIP from outside it is masqueraded (None: masquerade all)."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """Service CIDR, routed to `bridge_name` before any rule is written."""
    forbidden_pod_destinations: tuple[str, ...] = ()
    """Networks pods may not reach but through a cluster Service (the nodes' network); the
    node itself is always closed to pods (`podfirewall`)."""
    nodeport_addresses: tuple[str, ...] = ()
    """CIDRs whose local addresses NodePorts answer on (kube-proxy's `--nodeport-addresses`);
    empty: every local address. `minik8s up` passes 127.0.0.1/32."""
    bridge_name: str = "minik8s-svc"
    """Local bridge that owns the Service CIDR route, so a Service IP never leaves the machine."""
    healthz: options.HealthzOptions = field(
        default_factory=lambda: options.HealthzOptions(port=10256)
    )
    """Where /healthz and /metrics listen (0: any free port; -1: none)."""
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
    sync_events: bool = True
    """Record each successful rule sync as an Event on the Node (one Event, its count bumped):
    the signal the dashboard's architecture view draws on the node's kube-proxy box."""
    cleanup: bool = False
    """Remove every chain, jump, route and interface this proxy created, then exit."""
    log_level: str = "info"

    @property
    def localhost_node_ports(self) -> bool:
        """NodePorts may answer on 127.0.0.1 (route_localnet is needed for them)."""
        loopback = ipaddress.ip_network("127.0.0.0/8")
        networks = [ipaddress.ip_network(c) for c in self.nodeport_addresses]
        return not networks or any(n.version == 4 and n.overlaps(loopback) for n in networks)

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


def _cidrs(text: str) -> tuple[str, ...]:
    return tuple(_cidr(part.strip()) for part in text.split(",") if part.strip())


def _cidr_list(text: str) -> tuple[str, ...]:
    """Comma-separated CIDRs (IPv4 or IPv6, host bits allowed as kube-proxy allows them)."""
    cidrs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            cidrs.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"not a CIDR: {part!r} ({e})") from e
    return tuple(cidrs)


def build_parser() -> argparse.ArgumentParser:
    d = ProxySettings(node_name="")
    p = options.new_parser(
        "minik8s-proxy", "Programs iptables for ClusterIP, NodePort and LoadBalancer Services."
    )
    options.add_client_flags(p)
    options.add_healthz_flags(p, d.healthz.port)
    options.add_logging_flags(p)
    p.add_argument("--node-name", "--hostname-override", dest="node_name",
                   default=socket.gethostname(), help="this node's name")  # fmt: skip
    p.add_argument("--cluster-cidr", type=_cidr, default="10.244.0.0/16",
                   help="pod network; '' masquerades all Service traffic")  # fmt: skip
    p.add_argument("--service-cluster-ip-range", type=_cidr, default="10.96.0.0/16")
    p.add_argument(
        "--forbidden-pod-destinations", type=_cidrs, default=(), metavar="CIDR[,CIDR…]",
        help="networks pods reach only through a cluster Service (e.g. the nodes' network)",
    )  # fmt: skip
    p.add_argument(
        "--nodeport-addresses", type=_cidr_list, default=(), metavar="CIDR[,CIDR…]",
        help="NodePorts answer only on the local addresses in these CIDRs (default: all)",
    )  # fmt: skip
    p.add_argument("--bridge-name", default="minik8s-svc")
    p.add_argument("--min-sync-period", type=options.positive_duration,
                   default=d.min_sync_period, metavar="DURATION")  # fmt: skip
    p.add_argument("--sync-period", type=options.positive_duration, default=d.sync_period,
                   metavar="DURATION")  # fmt: skip
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
        "--sync-events", type=options.parse_bool, default=True, metavar="BOOL",
        help="record each rule sync as an Event on the Node (count bumped per sync)",
    )  # fmt: skip
    p.add_argument(
        "--cleanup", action="store_true", help="remove the proxy's rules, route and bridge; exit"
    )
    return p


def parse_args(argv: list[str] | None = None) -> ProxySettings:
    args = build_parser().parse_args(argv)
    return options.settings_from(
        ProxySettings, args,
        cluster_cidr=args.cluster_cidr or None,
        sync_period=max(args.sync_period, args.min_sync_period),
        restore_budget=max(1, args.restore_budget),
        restore_parallel=max(1, args.restore_parallel),
    )  # fmt: skip
