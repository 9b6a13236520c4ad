"""The scheduler's settings and its command line (flags named like kube-scheduler's)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from minik8s.scheduler.nodeinfo import DEFAULT_SCHEDULER


@dataclass(frozen=True)
class SchedulerSettings:
    kubeconfig: str | None = None
    """Kubeconfig file to reach the apiserver (None: $KUBECONFIG or ~/.kube/config)."""
    scheduler_name: str = DEFAULT_SCHEDULER
    """Pods whose `spec.schedulerName` is this are ours."""
    leader_elect: bool = True
    """Campaign for the Lease and schedule only while holding it."""
    lease_name: str = "minik8s-scheduler"
    """Name of the leader-election Lease."""
    lease_namespace: str = "kube-system"
    """Namespace of the leader-election Lease."""
    lease_duration: float = 15.0
    """Seconds a standby waits after the leader's last renewal before taking over."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it steps down."""
    retry_period: float = 2.0
    """Seconds between two attempts to acquire or renew the Lease."""
    healthz_bind_address: str = "127.0.0.1"
    """Address of the /healthz, /readyz and /metrics server."""
    healthz_port: int = 10259
    """Its port; 0 picks a free one, a negative value serves none."""
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
    verbosity: int = 2
    """klog-style `--v`: 4 and above log at debug level."""

    @property
    def log_level(self) -> str:
        return "debug" if self.verbosity >= 4 else "info"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def build_parser() -> argparse.ArgumentParser:
    d = SchedulerSettings()
    p = argparse.ArgumentParser(
        prog="minik8s-scheduler",
        description="Assign pending pods to nodes, through the apiserver.",
    )
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file of the apiserver")
    p.add_argument("--scheduler-name", default=d.scheduler_name)
    p.add_argument(
        "--leader-elect", type=_bool, nargs="?", const=True, default=d.leader_elect,
        help="campaign for a Lease and schedule only while leading (default true)",
    )  # fmt: skip
    p.add_argument("--lease-name", "--leader-elect-resource-name", default=d.lease_name)
    p.add_argument(
        "--lease-namespace", "--leader-elect-resource-namespace", default=d.lease_namespace
    )
    p.add_argument("--leader-elect-lease-duration", type=float, default=d.lease_duration)
    p.add_argument("--leader-elect-renew-deadline", type=float, default=d.renew_deadline)
    p.add_argument("--leader-elect-retry-period", type=float, default=d.retry_period)
    p.add_argument("--healthz-bind-address", default=d.healthz_bind_address)
    p.add_argument("--healthz-port", type=int, default=d.healthz_port)
    p.add_argument(
        "--percentage-of-nodes-to-score", type=int, default=d.percentage_of_nodes_to_score,
        help="0 (default) adapts: 50%% - nodes/125, at least 5%% and 100 nodes",
    )  # fmt: skip
    p.add_argument("--pod-initial-backoff-seconds", type=float, default=d.initial_backoff)
    p.add_argument("--pod-max-backoff-seconds", type=float, default=d.max_backoff)
    p.add_argument("--max-binds-in-flight", type=int, default=d.max_binds_in_flight)
    p.add_argument(
        "--record-scheduled-events", type=_bool, nargs="?", const=True,
        default=d.record_scheduled_events,
    )  # fmt: skip
    p.add_argument("--v", "-v", type=int, default=d.verbosity, help="log verbosity (4: debug)")
    return p


def parse_args(argv: list[str] | None = None) -> SchedulerSettings:
    a = build_parser().parse_args(argv)
    if (
        not a.leader_elect_lease_duration
        > a.leader_elect_renew_deadline
        > (a.leader_elect_retry_period)
        > 0
    ):
        build_parser().error("need lease duration > renew deadline > retry period > 0")
    if not 0 <= a.percentage_of_nodes_to_score <= 100:
        build_parser().error("--percentage-of-nodes-to-score must be within 0..100")
    return SchedulerSettings(
        kubeconfig=a.kubeconfig,
        scheduler_name=a.scheduler_name,
        leader_elect=a.leader_elect,
        lease_name=a.lease_name,
        lease_namespace=a.lease_namespace,
        lease_duration=a.leader_elect_lease_duration,
        renew_deadline=a.leader_elect_renew_deadline,
        retry_period=a.leader_elect_retry_period,
        healthz_bind_address=a.healthz_bind_address,
        healthz_port=a.healthz_port,
        percentage_of_nodes_to_score=a.percentage_of_nodes_to_score,
        initial_backoff=a.pod_initial_backoff_seconds,
        max_backoff=a.pod_max_backoff_seconds,
        max_binds_in_flight=max(1, a.max_binds_in_flight),
        record_scheduled_events=a.record_scheduled_events,
        verbosity=a.v,
    )
