"""The scheduler's settings and its command line (flags named like kube-scheduler's)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from minik8s.componentbase import options
from minik8s.scheduler.nodeinfo import DEFAULT_SCHEDULER

LEASE_NAME = "minik8s-scheduler"


@dataclass(frozen=True)
class SchedulerSettings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """How to reach the apiserver (`--kubeconfig`, `--master`)."""
    leader_election: options.LeaderElectionOptions = field(
        default_factory=lambda: options.LeaderElectionOptions(resource_name=LEASE_NAME)
    )
    """The Lease only one scheduler works while holding (`--leader-elect*`)."""
    healthz: options.HealthzOptions = field(
        default_factory=lambda: options.HealthzOptions(port=10259)
    )
    """Where /healthz, /readyz and /metrics listen (`--healthz-*`)."""
    scheduler_name: str = DEFAULT_SCHEDULER
    """Pods whose `spec.schedulerName` is this are ours."""
    percentage_of_nodes_to_score: int = 0
    """Share of the nodes to find feasible before scoring; 0 adapts to the cluster size."""
    initial_backoff: float = 1.0
    """Seconds a pod waits after its first failed attempt (doubled after each further one)."""
    max_backoff: float = 10.0
    """Longest wait between two attempts of a pod."""
    unschedulable_timeout: float = 300.0
    """Seconds an unschedulable pod waits for a cluster change before it is retried anyway."""
    assumed_ttl: float = 30.0
    """Seconds an assumed pod whose binding returned may go unconfirmed by the watch."""
    max_binds_in_flight: int = 64
    """Binding (and status) requests outstanding at once; the loop waits beyond that."""
    record_scheduled_events: bool = True
    """Record a `Scheduled` Event for every binding, as Kubernetes does."""
    housekeeping_period: float = 1.0
    """Seconds between two expiries of stale assumptions."""
    log_level: str = "info"
    """`--v` (klog's verbosity: 4 and above is debug) or a level name."""


def build_parser() -> argparse.ArgumentParser:
    d = SchedulerSettings()
    p = options.new_parser(
        "minik8s-scheduler", "Assign pending pods to nodes, through the apiserver."
    )
    options.add_client_flags(p)
    options.add_leader_election_flags(p, LEASE_NAME)
    # minik8s' first spellings of the Lease's name and namespace, still accepted.
    p.add_argument("--lease-name", dest="leader_elect_resource_name", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # fmt: skip
    p.add_argument("--lease-namespace", dest="leader_elect_resource_namespace",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # fmt: skip
    options.add_healthz_flags(p, d.healthz.port)
    options.add_logging_flags(p)
    p.add_argument("--scheduler-name", default=d.scheduler_name)
    p.add_argument(
        "--percentage-of-nodes-to-score", type=int, default=d.percentage_of_nodes_to_score,
        help="0 (default) adapts: 50%% - nodes/125, at least 5%% and 100 nodes",
    )  # fmt: skip
    p.add_argument("--pod-initial-backoff-seconds", type=options.duration,
                   default=d.initial_backoff)  # fmt: skip
    p.add_argument("--pod-max-backoff-seconds", type=options.duration, default=d.max_backoff)
    p.add_argument("--max-binds-in-flight", type=int, default=d.max_binds_in_flight)
    options.bool_flag(p, "--record-scheduled-events", d.record_scheduled_events)
    return p


def parse_args(argv: list[str] | None = None) -> SchedulerSettings:
    p = build_parser()
    a = p.parse_args(argv)
    if not 0 <= a.percentage_of_nodes_to_score <= 100:
        p.error("--percentage-of-nodes-to-score must be within 0..100")
    return options.settings_from(
        SchedulerSettings, a,
        leader_election=options.leader_election_options(a, p),
        initial_backoff=a.pod_initial_backoff_seconds,
        max_backoff=a.pod_max_backoff_seconds,
        max_binds_in_flight=max(1, a.max_binds_in_flight),
    )  # fmt: skip
