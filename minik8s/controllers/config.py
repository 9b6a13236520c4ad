"""Settings of the controller-manager and their command-line flags (kube-controller-manager's)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from minik8s.componentbase import options

ALL_CONTROLLERS = ("replicaset", "deployment", "endpoints", "endpointslice",
                   "endpointslicemirroring", "garbagecollector", "namespace",
                   "nodeipam", "nodelifecycle",
                   "replicationcontroller", "job", "cronjob", "ttl-after-finished", "podgc",
                   "disruption",
                   "daemonset", "statefulset", "persistentvolume-binder", "pvc-protection",
                   "pv-protection", "local-path-provisioner", "serviceaccount",
                   "root-ca-cert-publisher", "clusterrole-aggregation",
                   "horizontalpodautoscaling",
                   "csrapproving", "csrsigning", "csrcleaner",
                   "bootstrapsigner", "tokencleaner")  # fmt: skip
"""Every controller this process runs, in start order."""

DISABLED_BY_DEFAULT = ("bootstrapsigner", "tokencleaner")
"""Not part of `*` (as in kube-controller-manager): name them to run them."""

BATCH_WORKERS = {"replicationcontroller": 5, "job": 5, "cronjob": 5, "ttl-after-finished": 5,
                 "podgc": 1, "disruption": 1}  # fmt: skip
"""Workers of the workload controllers (`--concurrent-{rc,job,cron-job,...}-syncs`)."""

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "minik8s-controller-manager"


@dataclass(frozen=True)
class Settings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """How to reach the apiserver (`--kubeconfig`, `--master`)."""
    controllers: tuple[str, ...] = tuple(c for c in ALL_CONTROLLERS if c not in DISABLED_BY_DEFAULT)
    """Controllers to run (from `--controllers`)."""
    leader_election: options.LeaderElectionOptions = field(
        default_factory=lambda: options.LeaderElectionOptions(resource_name=LEASE_NAME)
    )
    """The Lease kube-system/minik8s-controller-manager, held while the controllers run."""
    healthz: options.HealthzOptions = field(
        default_factory=lambda: options.HealthzOptions(port=10257)
    )
    """Where /healthz, /readyz and /metrics listen (0: any free port; -1: none)."""
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
    workers: dict[str, int] = field(
        default_factory=lambda: {"replicaset": 5, "deployment": 5, "endpoints": 5,
                                 "endpointslice": 5, "endpointslicemirroring": 5,
                                 "garbagecollector": 10, "namespace": 5, "nodelifecycle": 1,
                                 "daemonset": 2, "statefulset": 5, **BATCH_WORKERS,
                                 "horizontalpodautoscaling": 5}
    )  # fmt: skip
    """Concurrent workers per controller (`--concurrent-*-syncs`)."""
    max_endpoints_per_slice: int = 100
    """Endpoints in one EndpointSlice at most (`--max-endpoints-per-slice`)."""
    mirroring_max_endpoints_per_subset: int = 1000
    """Addresses of one Endpoints subset mirrored to an EndpointSlice at most, the rest
    skipped (`--mirroring-max-endpoints-per-subset`)."""
    terminated_pod_gc_threshold: int = 12500
    """Terminated pods kept before the pod garbage collector deletes the oldest (0: never)."""
    local_path_root: str = "/var/lib/minik8s/storage"
    """Where the local-path provisioner puts volume directories on each node."""
    local_path_namespace: str = "kube-system"
    """Namespace of the local-path provisioner's helper pods."""
    local_path_helper_image: str = "minik8s/busybox"
    """Image of the helper pods that remove a deleted volume's data (needs `rm`)."""
    cluster_signing_cert_file: str | None = None
    """CA certificate that signs approved CertificateSigningRequests (csrsigning)."""
    cluster_signing_key_file: str | None = None
    """Its private key (mode 0600)."""
    cluster_signing_duration: float = 365 * 24 * 3600.0
    """Longest life of a signed certificate (a request's `expirationSeconds` may ask less)."""
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
    on = tuple(c for c in ALL_CONTROLLERS if c not in DISABLED_BY_DEFAULT)
    return options.controller_list(text, ALL_CONTROLLERS, on)


def build_parser() -> argparse.ArgumentParser:
    d = Settings()
    p = options.new_parser(
        "minik8s-controller-manager", "The ReplicaSet, Deployment, Endpoints, garbage "
        "collector, Namespace, node IPAM and node lifecycle controllers in one process.",
    )  # fmt: skip
    options.add_client_flags(p)
    options.add_leader_election_flags(p, LEASE_NAME)
    options.add_healthz_flags(p, d.healthz.port)
    options.add_logging_flags(p)
    p.add_argument("--controllers", default="*", help="*, name or -name, comma-separated")
    for flag, default in (
        ("--node-monitor-period", d.node_monitor_period),
        ("--node-monitor-grace-period", d.node_monitor_grace_period),
        ("--node-startup-grace-period", d.node_startup_grace_period),
        ("--pod-eviction-timeout", d.pod_eviction_timeout),
    ):
        p.add_argument(flag, type=options.duration, default=default, metavar="DURATION")
    options.bool_flag(p, "--allocate-node-cidrs", d.allocate_node_cidrs)
    p.add_argument("--cluster-cidr", default=d.cluster_cidr)
    p.add_argument("--node-cidr-mask-size", type=int, default=d.node_cidr_mask_size)
    p.add_argument("--root-ca-file", default=None)
    p.add_argument("--cluster-signing-cert-file", default=None)
    p.add_argument("--cluster-signing-key-file", default=None)
    p.add_argument(
        "--cluster-signing-duration", type=options.duration, default="8760h", metavar="DURATION"
    )
    p.add_argument("--concurrent-replicaset-syncs", type=int, default=5)
    p.add_argument("--concurrent-deployment-syncs", type=int, default=5)
    p.add_argument("--concurrent-endpoint-syncs", type=int, default=5)
    p.add_argument("--concurrent-service-endpoint-syncs", type=int, default=5,
                   help="workers of the EndpointSlice controller")  # fmt: skip
    p.add_argument(
        "--max-endpoints-per-slice",
        type=int,
        default=d.max_endpoints_per_slice,
        help="endpoints in one EndpointSlice at most (1 to 1000)",
    )
    p.add_argument(
        "--mirroring-concurrent-service-endpoint-syncs",
        type=int,
        default=5,
        help="workers of the EndpointSlice mirroring controller (1 to 50)",
    )
    p.add_argument(
        "--mirroring-max-endpoints-per-subset",
        type=int,
        default=d.mirroring_max_endpoints_per_subset,
        help="addresses of an Endpoints subset mirrored at most (1 to 1000)",
    )  # fmt: skip
    p.add_argument("--concurrent-gc-syncs", type=int, default=10)
    p.add_argument("--concurrent-namespace-syncs", type=int, default=5)
    p.add_argument("--concurrent-rc-syncs", type=int, default=5)
    p.add_argument("--concurrent-job-syncs", type=int, default=5)
    p.add_argument("--concurrent-cron-job-syncs", type=int, default=5)
    p.add_argument("--concurrent-ttl-after-finished-syncs", type=int, default=5)
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500)
    p.add_argument("--concurrent-daemonset-syncs", type=int, default=2)
    p.add_argument("--concurrent-statefulset-syncs", type=int, default=5)
    p.add_argument("--concurrent-horizontal-pod-autoscaler-syncs", type=int, default=5)
    for flag, default in (
        ("--horizontal-pod-autoscaler-sync-period", d.horizontal_pod_autoscaler_sync_period),
        ("--horizontal-pod-autoscaler-downscale-stabilization",
         d.horizontal_pod_autoscaler_downscale_stabilization),
        ("--horizontal-pod-autoscaler-cpu-initialization-period",
         d.horizontal_pod_autoscaler_cpu_initialization_period),
        ("--horizontal-pod-autoscaler-initial-readiness-delay",
         d.horizontal_pod_autoscaler_initial_readiness_delay),
    ):  # fmt: skip
        p.add_argument(flag, type=options.duration, default=default, metavar="DURATION")
    p.add_argument(
        "--horizontal-pod-autoscaler-tolerance",
        type=float,
        default=d.horizontal_pod_autoscaler_tolerance,
    )
    p.add_argument(
        "--local-path-root",
        default=d.local_path_root,
        help="directory of the local-path provisioner's volumes on each node",
    )
    p.add_argument(
        "--local-path-helper-image",
        default=d.local_path_helper_image,
        help="image of the pods that remove a deleted volume's data",
    )
    return p


def parse_args(argv: list[str] | None = None) -> Settings:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        controllers = parse_controllers(args.controllers)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if not 1 <= args.max_endpoints_per_slice <= 1000:
        p.error("--max-endpoints-per-slice must be between 1 and 1000")
    if not 1 <= args.mirroring_concurrent_service_endpoint_syncs <= 50:
        p.error("--mirroring-concurrent-service-endpoint-syncs must be between 1 and 50")
    if not 1 <= args.mirroring_max_endpoints_per_subset <= 1000:
        p.error("--mirroring-max-endpoints-per-subset must be between 1 and 1000")
    return options.settings_from(
        Settings, args,
        controllers=controllers,
        leader_election=options.leader_election_options(args, p),
        workers={
            "replicaset": args.concurrent_replicaset_syncs,
            "deployment": args.concurrent_deployment_syncs,
            "endpoints": args.concurrent_endpoint_syncs,
            "endpointslice": args.concurrent_service_endpoint_syncs,
            "endpointslicemirroring": args.mirroring_concurrent_service_endpoint_syncs,
            "garbagecollector": args.concurrent_gc_syncs,
            "namespace": args.concurrent_namespace_syncs,
            "nodelifecycle": 1,
            **BATCH_WORKERS,
            "replicationcontroller": args.concurrent_rc_syncs,
            "job": args.concurrent_job_syncs,
            "cronjob": args.concurrent_cron_job_syncs,
            "ttl-after-finished": args.concurrent_ttl_after_finished_syncs,
            "daemonset": args.concurrent_daemonset_syncs,
            "statefulset": args.concurrent_statefulset_syncs,
            "horizontalpodautoscaling": args.concurrent_horizontal_pod_autoscaler_syncs,
        },
    )  # fmt: skip
