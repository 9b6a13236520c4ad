"""Settings of the cloud controller manager and their flags (cloud-controller-manager's names).

The shared groups (client, leader election, /healthz, logging) come from
`minik8s.componentbase.options`; the rest is this component's own.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.cloudcontroller import pool
from minik8s.componentbase import options

PROVIDERS = ("local", "docker")
"""`local`: the nodes are processes on this host (`minik8s up`); `docker`: each node is a
container of a docker-compose project (deploy/docker-compose.yml)."""
CONTROLLERS = ("service", "cloud-node", "cloud-node-lifecycle")
"""Every controller this process runs (cloud-controller-manager's names), in start order.
`route` is Kubernetes' fourth: neither provider has Routes (see the README)."""
LEASE_NAME = "cloud-controller-manager"
"""Kubernetes' name (the bootstrap policy lets this component update only this Lease)."""
DEFAULT_POOL = "203.0.113.0/24"
"""TEST-NET-3 (RFC 5737): reserved for documentation, never routed on the Internet, and routed
here to a bridge of ours before any of it is handed out."""


@dataclass(frozen=True)
class Settings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    leader_election: options.LeaderElectionOptions = field(
        default_factory=lambda: options.LeaderElectionOptions(resource_name=LEASE_NAME)
    )
    healthz: options.HealthzOptions = field(
        default_factory=lambda: options.HealthzOptions(port=10258)
    )
    log_level: str = "info"
    cloud_provider: str = "local"
    """Which provider: `local` or `docker`."""
    controllers: tuple[str, ...] = CONTROLLERS
    """Controllers to run (from `--controllers`)."""
    cluster_name: str = "kubernetes"
    """Passed to the provider, as Kubernetes does (load balancer names)."""
    load_balancer_pool: str = DEFAULT_POOL
    """Addresses handed out to LoadBalancer Services (CIDRs or first-last ranges)."""
    load_balancer_class: str = ""
    """Also serve Services of this `loadBalancerClass` (those without a class always)."""
    load_balancer_bridge: str = "minik8s-lb"
    """local provider: the bridge the pool is routed to, so a pool address never leaves."""
    concurrent_service_syncs: int = 8
    """Services reconciled at once (Kubernetes' default is 1). Here a sync is two writes
    (finalizer, status), each waiting for etcd's WAL fsync (~8 ms on a small VM's disk): one
    at a time, 100 Services take ~1.8 s; syncs in flight together share etcd's group commits
    (8: ~0.75 s, see the README's Figures). The providers' address pools stay serialised."""
    node_monitor_period: float = 5.0
    """Seconds between two checks that every NotReady node's instance still exists."""
    node_status_update_frequency: float = 300.0
    """Seconds between two refreshes of the nodes' addresses from the provider."""
    load_balancer_check_period: float = 5.0
    """docker provider: seconds between two health checks of the nodes behind each address."""
    docker_project: str = ""
    """docker provider: the compose project of the nodes (default: this container's)."""
    docker_network: str = ""
    """docker provider: the network the nodes and the host share (default: the project's
    `default` network)."""
    lock_file: Path = Path("/run/minik8s-cloud-local.lock")
    """local provider: held while it hands out the pool (one per host, like kube-proxy)."""
    cleanup: bool = False
    """Remove the local provider's bridge and route, then exit."""


def _controllers(text: str) -> tuple[str, ...]:
    chosen = options.controller_list(text, (*CONTROLLERS, "route"), CONTROLLERS)
    if "route" in chosen:
        raise argparse.ArgumentTypeError(
            "the route controller is not available: neither provider has Routes "
            "(pod routes are the nodes' minik8s-hostgw agents', see the README)"
        )
    return chosen


def _pool(text: str) -> str:
    try:
        pool.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def build_parser() -> options.FlagParser:
    p = options.new_parser(
        "minik8s-cloud-controller-manager",
        "Runs the controllers that talk to the cloud: LoadBalancer Services and node instances.",
    )
    options.add_client_flags(p)
    options.add_leader_election_flags(p, LEASE_NAME)
    options.add_healthz_flags(p, 10258)
    options.add_logging_flags(p)
    d = Settings()
    p.add_argument("--cloud-provider", choices=PROVIDERS, default=d.cloud_provider)
    p.add_argument("--controllers", type=_controllers, default=d.controllers,
                   help="*, name or -name, comma-separated: " + ", ".join(CONTROLLERS))  # fmt: skip
    p.add_argument("--cluster-name", default=d.cluster_name)
    p.add_argument("--load-balancer-pool", type=_pool, default=d.load_balancer_pool,
                   help="LoadBalancer addresses: CIDRs or first-last ranges, comma-separated "
                   f"(default {DEFAULT_POOL}, TEST-NET-3)")  # fmt: skip
    p.add_argument("--load-balancer-class", default=d.load_balancer_class,
                   help="also serve Services with this spec.loadBalancerClass")  # fmt: skip
    p.add_argument("--load-balancer-bridge", default=d.load_balancer_bridge)
    p.add_argument("--concurrent-service-syncs", type=int, default=d.concurrent_service_syncs,
                   help="Services reconciled at once (Kubernetes' default: 1)")  # fmt: skip
    p.add_argument("--node-monitor-period", type=options.positive_duration,
                   default=d.node_monitor_period, metavar="DURATION")  # fmt: skip
    p.add_argument("--node-status-update-frequency", type=options.positive_duration,
                   default=d.node_status_update_frequency, metavar="DURATION")  # fmt: skip
    p.add_argument("--load-balancer-check-period", type=options.positive_duration,
                   default=d.load_balancer_check_period, metavar="DURATION")  # fmt: skip
    p.add_argument("--docker-project", default=d.docker_project)
    p.add_argument("--docker-network", default=d.docker_network)
    p.add_argument("--lock-file", type=Path, default=d.lock_file)
    p.add_argument("--cleanup", action="store_true",
                   help="remove the local provider's bridge and pool route, then exit")  # fmt: skip
    return p


def parse_args(argv: list[str] | None = None) -> Settings:
    p = build_parser()
    args = p.parse_args(argv)
    if args.concurrent_service_syncs < 1:
        p.error("--concurrent-service-syncs must be at least 1")
    return Settings(
        client=options.client_options(args),
        leader_election=options.leader_election_options(args, p),
        healthz=options.healthz_options(args),
        log_level=args.log_level,
        cloud_provider=args.cloud_provider,
        controllers=tuple(args.controllers),
        cluster_name=args.cluster_name,
        load_balancer_pool=args.load_balancer_pool,
        load_balancer_class=args.load_balancer_class,
        load_balancer_bridge=args.load_balancer_bridge,
        concurrent_service_syncs=args.concurrent_service_syncs,
        node_monitor_period=args.node_monitor_period,
        node_status_update_frequency=args.node_status_update_frequency,
        load_balancer_check_period=args.load_balancer_check_period,
        docker_project=args.docker_project,
        docker_network=args.docker_network,
        lock_file=args.lock_file,
        cleanup=args.cleanup,
    )
