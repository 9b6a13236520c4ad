"""Settings of the host-gw agent and their flags (flannel's names where they exist)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from minik8s.componentbase import options


@dataclass(frozen=True)
class HostGwSettings:
    node_name: str
    """This node's Node (flannel's `NODE_NAME`): its own podCIDR needs no route."""
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """How to reach the apiserver: a credential that may list and watch Nodes (kube-proxy's)."""
    healthz: options.HealthzOptions = field(default_factory=lambda: options.HealthzOptions(port=-1))
    """/healthz and /metrics (flannel's `--healthz-port`, off by default: -1)."""
    resync_period: float = 30.0
    """Seconds between two syncs without a change: routes removed by hand come back."""
    cleanup: bool = False
    """Remove every route of the agent's `proto`, then exit."""
    log_level: str = "info"


def build_parser() -> options.FlagParser:
    d = HostGwSettings(node_name="")
    p = options.new_parser(
        "minik8s-hostgw",
        "Routes every other node's spec.podCIDR via its InternalIP (flannel's host-gw).",
    )
    options.add_client_flags(p)
    options.add_healthz_flags(p, d.healthz.port)
    options.add_logging_flags(p)
    p.add_argument("--node-name", default=socket.gethostname(), help="this node's name")
    p.add_argument("--resync-period", type=options.positive_duration, default=d.resync_period,
                   metavar="DURATION")  # fmt: skip
    p.add_argument(
        "--cleanup", action="store_true", help="remove the agent's routes (its proto) and exit"
    )
    return p


def parse_args(argv: list[str] | None = None) -> HostGwSettings:
    args = build_parser().parse_args(argv)
    return options.settings_from(HostGwSettings, args)
