"""Settings of the controller-manager and their command-line flags (kube-controller-manager's)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from minik8s.api import durations

ALL_CONTROLLERS = ("replicaset", "deployment", "endpoints", "garbagecollector", "namespace",
                   "nodeipam", "nodelifecycle",
                   "daemonset", "statefulset", "persistentvolume-binder", "pvc-protection",
                   "pv-protection", "local-path-provisioner", "serviceaccount",
                   "root-ca-cert-publisher", "horizontalpodautoscaling")  # fmt: skip
"""Every controller this process runs, in start order."""

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "minik8s-controller-manager"


@dataclass(frozen=True)
class Settings:
    kubeconfig: str | None = None
    """Path of the kubeconfig (None: $KUBECONFIG, then ~/.kube/config)."""
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    """Controllers to run (from `--controllers`)."""
    leader_elect: bool = True
    """Campaign for the Lease kube-system/minik8s-controller-manager before running."""
    leader_elect_resource_namespace: str = LEASE_NAMESPACE
    """Namespace of the leader election Lease."""
    leader_elect_resource_name: str = LEASE_NAME
    """Name of the leader election Lease."""
    leader_elect_lease_duration: float = 15.0
    """Seconds a follower waits after the last renewal before taking the Lease over."""
    leader_elect_renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it steps down."""
    leader_elect_retry_period: float = 2.0
    """Seconds between two attempts to acquire or renew the Lease."""
    node_monitor_period: float = 5.0
    """Seconds between two checks of every node's heartbeat."""
    node_monitor_grace_period: float = 40.0
    """Seconds without a heartbeat after which a node is marked Ready=Unknown and tainted."""
    node_startup_grace_period: float = 60.0
    """Seconds a new node may take to post its first heartbeat."""
    pod_eviction_timeout: float = 300.0
    """Seconds pods that do not tolerate an unreachable/not-ready node stay before eviction."""
    allocate_node_cidrs: bool = False
    """Give each node a podCIDR from `cluster_cidr` (the nodeipam controller)."""
    cluster_cidr: str = "10.244.0.0/16"
    """The pod network that node podCIDRs are cut from."""
    node_cidr_mask_size: int = 24
    """Prefix length of each node's podCIDR."""
    root_ca_file: str | None = None
    """CA bundle published as `kube-root-ca.crt` in every namespace (default: the CA of the
    kubeconfig)."""
    healthz_port: int = 10257
    """Port of /healthz and /metrics on 127.0.0.1 (0: any free port; -1: none)."""
    healthz_bind_address: str = "127.0.0.1"
    workers: dict[str, int] = field(
        default_factory=lambda: {"replicaset": 5, "deployment": 5, "endpoints": 5,
                                 "garbagecollector": 10, "namespace": 5, "nodelifecycle": 1,
                                 "daemonset": 2, "statefulset": 5}
    )  # fmt: skip
    """Concurrent workers per controller (`--concurrent-*-syncs`)."""
    local_path_root: str = "/var/lib/minik8s/storage"
    """Where the local-path provisioner puts volume directories on each node."""
    local_path_namespace: str = "kube-system"
    """Namespace of the local-path provisioner's helper pods."""
    local_path_helper_image: str = "minik8s/busybox"
    """Image of the helper pods that remove a deleted volume's data (needs `rm`)."""
    resync_period: float = 0.0
    """Seconds between full resyncs of the informers (0: never)."""
    horizontal_pod_autoscaler_sync_period: float = 15.0
    """Seconds between two looks at each autoscaler."""
    horizontal_pod_autoscaler_downscale_stabilization: float = 300.0
    """Seconds of recommendations a scale down considers (the highest wins)."""
    horizontal_pod_autoscaler_tolerance: float = 0.1
    """A usage ratio this close to 1 changes nothing."""
    horizontal_pod_autoscaler_cpu_initialization_period: float = 300.0
    """Seconds after a pod starts during which its CPU samples may be skipped."""
    horizontal_pod_autoscaler_initial_readiness_delay: float = 30.0
    """Seconds after a pod starts during which readiness flapping is tolerated."""
    log_level: str = "info"

    def enabled(self, name: str) -> bool:
        return name in self.controllers


def parse_controllers(text: str) -> tuple[str, ...]:
    """kube-controller-manager's syntax: `*` (all), `name`, `-name` (all but), comma-separated."""
    chosen: list[str] = []
    disabled: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "*":
            chosen.extend(ALL_CONTROLLERS)
        elif item.startswith("-"):
            disabled.add(_known(item[1:]))
        else:
            chosen.append(_known(item))
    if not chosen and disabled:
        chosen = list(ALL_CONTROLLERS)
    return tuple(c for c in ALL_CONTROLLERS if c in chosen and c not in disabled)


def _known(name: str) -> str:
    if name not in ALL_CONTROLLERS:
        known = ", ".join(ALL_CONTROLLERS)
        raise argparse.ArgumentTypeError(f"unknown controller {name!r} (known: {known})")
    return name


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minik8s-controller-manager")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--controllers", default="*", help="*, name or -name, comma-separated")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=True)
    p.add_argument("--leader-elect-resource-namespace", default=LEASE_NAMESPACE)
    p.add_argument("--leader-elect-resource-name", default=LEASE_NAME)
    p.add_argument("--leader-elect-lease-duration", type=durations.parse_duration, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=durations.parse_duration, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=durations.parse_duration, default=2.0)
    p.add_argument("--node-monitor-period", type=durations.parse_duration, default=5.0)
    p.add_argument("--node-monitor-grace-period", type=durations.parse_duration, default=40.0)
    p.add_argument("--node-startup-grace-period", type=durations.parse_duration, default=60.0)
    p.add_argument("--pod-eviction-timeout", type=durations.parse_duration, default=300.0)
    p.add_argument("--allocate-node-cidrs", type=_bool, nargs="?", const=True, default=False)
    p.add_argument("--cluster-cidr", default="10.244.0.0/16")
    p.add_argument("--node-cidr-mask-size", type=int, default=24)
    p.add_argument("--root-ca-file", default=None)
    p.add_argument("--healthz-port", type=int, default=10257)
    p.add_argument("--healthz-bind-address", default="127.0.0.1")
    p.add_argument("--concurrent-replicaset-syncs", type=int, default=5)
    p.add_argument("--concurrent-deployment-syncs", type=int, default=5)
    p.add_argument("--concurrent-endpoint-syncs", type=int, default=5)
    p.add_argument("--concurrent-gc-syncs", type=int, default=10)
    p.add_argument("--concurrent-namespace-syncs", type=int, default=5)
    p.add_argument("--concurrent-daemonset-syncs", type=int, default=2)
    p.add_argument("--concurrent-statefulset-syncs", type=int, default=5)
    p.add_argument("--concurrent-horizontal-pod-autoscaler-syncs", type=int, default=5)
    p.add_argument(
        "--horizontal-pod-autoscaler-sync-period", type=durations.parse_duration, default=15.0
    )
    p.add_argument(
        "--horizontal-pod-autoscaler-downscale-stabilization",
        type=durations.parse_duration,
        default=300.0,
    )
    p.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=0.1)
    p.add_argument(
        "--horizontal-pod-autoscaler-cpu-initialization-period",
        type=durations.parse_duration,
        default=300.0,
    )
    p.add_argument(
        "--horizontal-pod-autoscaler-initial-readiness-delay",
        type=durations.parse_duration,
        default=30.0,
    )
    p.add_argument(
        "--local-path-root",
        default="/var/lib/minik8s/storage",
        help="directory of the local-path provisioner's volumes on each node",
    )
    p.add_argument(
        "--local-path-helper-image",
        default="minik8s/busybox",
        help="image of the pods that remove a deleted volume's data",
    )
    p.add_argument("--v", "--log-level", dest="log_level", default="info",
                   help="debug, info, warning; or a klog number (>=4 means debug)")  # fmt: skip
    return p


def parse_args(argv: list[str] | None = None) -> Settings:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        controllers = parse_controllers(args.controllers)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if not (
        args.leader_elect_lease_duration
        > args.leader_elect_renew_deadline
        > args.leader_elect_retry_period
        > 0
    ):
        p.error("need lease duration > renew deadline > retry period > 0")
    level = str(args.log_level)
    if level.isdigit():
        level = "debug" if int(level) >= 4 else "info"
    return Settings(
        kubeconfig=args.kubeconfig,
        controllers=controllers,
        leader_elect=args.leader_elect,
        leader_elect_resource_namespace=args.leader_elect_resource_namespace,
        leader_elect_resource_name=args.leader_elect_resource_name,
        leader_elect_lease_duration=args.leader_elect_lease_duration,
        leader_elect_renew_deadline=args.leader_elect_renew_deadline,
        leader_elect_retry_period=args.leader_elect_retry_period,
        node_monitor_period=args.node_monitor_period,
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_startup_grace_period=args.node_startup_grace_period,
        pod_eviction_timeout=args.pod_eviction_timeout,
        allocate_node_cidrs=args.allocate_node_cidrs,
        cluster_cidr=args.cluster_cidr,
        node_cidr_mask_size=args.node_cidr_mask_size,
        root_ca_file=args.root_ca_file,
        healthz_port=args.healthz_port,
        healthz_bind_address=args.healthz_bind_address,
        workers={
            "replicaset": args.concurrent_replicaset_syncs,
            "deployment": args.concurrent_deployment_syncs,
            "endpoints": args.concurrent_endpoint_syncs,
            "garbagecollector": args.concurrent_gc_syncs,
            "namespace": args.concurrent_namespace_syncs,
            "nodelifecycle": 1,
            "daemonset": args.concurrent_daemonset_syncs,
            "statefulset": args.concurrent_statefulset_syncs,
            "horizontalpodautoscaling": args.concurrent_horizontal_pod_autoscaler_syncs,
        },
        horizontal_pod_autoscaler_sync_period=args.horizontal_pod_autoscaler_sync_period,
        horizontal_pod_autoscaler_downscale_stabilization=(
            args.horizontal_pod_autoscaler_downscale_stabilization
        ),
        horizontal_pod_autoscaler_tolerance=args.horizontal_pod_autoscaler_tolerance,
        horizontal_pod_autoscaler_cpu_initialization_period=(
            args.horizontal_pod_autoscaler_cpu_initialization_period
        ),
        horizontal_pod_autoscaler_initial_readiness_delay=(
            args.horizontal_pod_autoscaler_initial_readiness_delay
        ),
        local_path_root=args.local_path_root,
        local_path_helper_image=args.local_path_helper_image,
        log_level=level,
    )
