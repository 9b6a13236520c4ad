"""Settings of `minik8s-kubemark` (a process of many hollow nodes) and their flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.componentbase import options


@dataclass(frozen=True)
class KubemarkSettings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """The apiserver; its kubeconfig serves every node without one of its own."""
    hollow_nodes: int = 10
    """Hollow nodes this process runs."""
    node_prefix: str = "hollow-node-"
    """Node names are `<prefix><index>`."""
    first_index: int = 0
    """Index of this process's first node (several processes share one prefix)."""
    kubeconfig_dir: Path | None = None
    """Where `kubelet-<node>.conf` gives a node its own identity (system:node:<node>)."""
    proxy: bool = True
    """Run a hollow kube-proxy beside each hollow kubelet."""
    proxy_kubeconfig: str | None = None
    """The hollow proxies' identity (system:kube-proxy); default: `--kubeconfig`."""
    use_real_proxier: bool = True
    """The hollow proxies render their rules (the real syncer); false: kubemark's fake proxier,
    which keeps the Services and Endpoints informers (the apiserver's watch fan-out) but
    renders nothing."""
    proxy_min_sync_period: float = 1.0
    """Shortest time between two syncs of one hollow proxy."""
    node_status_update_frequency: float = 10.0
    """Seconds between Lease renewals (Kubernetes' default 10 s)."""
    pleg_relist_period: float = 1.0
    """Seconds between relists of each node's (in-memory) containers."""
    pod_workers: int = 4
    """Pods each hollow kubelet syncs in parallel."""
    cpu: str = "4"
    memory: str = "16Gi"
    max_pods: int = 110
    root_dir: Path = field(default_factory=lambda: Path("/tmp/minik8s-kubemark"))
    """Per-node directories (lock files, volumes of hollow pods)."""
    start_parallel: int = 20
    """Nodes started at once; the next wave follows `start_interval` later."""
    start_interval: float = 1.0
    shutdown_grace: float = 10.0
    log_level: str = "warning"


def parse_args(argv: list[str] | None = None) -> KubemarkSettings:
    d = KubemarkSettings()
    p = options.new_parser(
        "minik8s-kubemark",
        "Many hollow nodes in one process: real kubelets on a fake runtime, hollow proxies.",
    )
    options.add_client_flags(p)
    options.add_logging_flags(p, d.log_level)
    p.add_argument("--hollow-nodes", type=options.positive_int, default=d.hollow_nodes)
    p.add_argument("--node-prefix", default=d.node_prefix)
    p.add_argument("--first-index", type=options.non_negative_int, default=d.first_index)
    p.add_argument("--kubeconfig-dir", type=Path, default=None,
                   help="holds kubelet-<node>.conf: a node's own identity")  # fmt: skip
    options.bool_flag(p, "--proxy", True, "a hollow kube-proxy beside each hollow kubelet")
    p.add_argument("--proxy-kubeconfig", default=None)
    options.bool_flag(
        p, "--use-real-proxier", True,
        "the hollow proxies render their rules; false: watch Services and Endpoints only",
    )  # fmt: skip
    p.add_argument("--proxy-min-sync-period", type=options.positive_duration,
                   default=d.proxy_min_sync_period, metavar="DURATION")  # fmt: skip
    p.add_argument("--node-status-update-frequency", type=options.positive_duration,
                   default=d.node_status_update_frequency, metavar="DURATION")  # fmt: skip
    p.add_argument("--pleg-relist-period", type=options.positive_duration,
                   default=d.pleg_relist_period, metavar="DURATION")  # fmt: skip
    p.add_argument("--pod-workers", type=options.positive_int, default=d.pod_workers)
    p.add_argument("--cpu", default=d.cpu)
    p.add_argument("--memory", default=d.memory)
    p.add_argument("--max-pods", type=options.positive_int, default=d.max_pods)
    p.add_argument("--root-dir", type=Path, default=Path(f"/tmp/minik8s-kubemark-{os.getuid()}"))
    p.add_argument("--start-parallel", type=options.positive_int, default=d.start_parallel)
    p.add_argument("--start-interval", type=options.duration, default=d.start_interval,
                   metavar="DURATION")  # fmt: skip
    args = p.parse_args(argv)
    return options.settings_from(
        KubemarkSettings, args,
        proxy_kubeconfig=args.proxy_kubeconfig or args.kubeconfig,
    )  # fmt: skip
