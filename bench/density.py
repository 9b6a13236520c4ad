"""A clusterloader2-style density and load test on kubemark-style hollow nodes.

    flock /tmp/minik8s-e2e.lock .venv/bin/python -m bench.density [--nodes 100]
        [--pods-per-node 30] [--qps 10] [--pods-per-deployment 10] [--nodes-per-process 50]
        [--control-plane launcher|processes] [--stop-after nodes|create|delete] [--hold S]
        [--heap-probe] [--heap-trace FRAMES] [--kubemark-nice N] [--use-real-proxier=false]

`launcher` (the default) starts the whole control plane as `minik8s up --nodes 0` starts it
(etcd over mTLS, the apiserver, scheduler, controller-manager, cloud controller, proxy,
dashboard, each with its own identity; the host proxy writes iptables rules, so run it under
the shared lock) in a home of its own on free ports; `processes` starts only etcd, the
apiserver, the scheduler and the controller-manager (what the CI test uses). Then
`minik8s.kubemark` processes run the hollow nodes (real kubelet code on the fake runtime, a
hollow proxy each; in `launcher` mode each node has its own `system:node:<name>` identity).
They run at niceness +`--kubemark-nice` (default 19; their sessions' autogroups too, where
the kernel has them): Kubernetes' kubemark runs its hollow nodes on machines of their own, so
they never take the control plane's CPU; here they share the cores, and lower priority lets the
control plane have them first. `--use-real-proxier=false` gives the hollow proxies kubemark's
fake proxier (Services and Endpoints watched, nothing rendered).

Phases: nodes (register, all Ready) → create (Deployments totalling `pods-per-node` x nodes
pods, paced at `--qps` pods/s, a ClusterIP Service over each) → rollout (a template change of
every Deployment, same pace, until all are updated and available) → scale (each to half) →
delete (Deployments and Services; until no pod is left).
`--stop-after nodes --hold S` registers the nodes, then leaves the cluster idle for S seconds
(each process's CPU as a share of a core, Lease renewals: the per-node cost); `--heap-probe`
has every Python process report its heap at the end (`bench/heapprobe/sitecustomize.py`);
`--heap-trace N` also runs the apiserver under `tracemalloc` (N frames) and prints its top
allocation sites.

Measured: pod startup latency (first seen by our watch → Running seen by our watch), API call
latency per verb and resource from the apiserver's `apiserver_request_duration_seconds`
histogram (the SLOs: mutating and single-object reads p99 ≤ 1 s, lists p99 ≤ 30 s), RSS and CPU
of every control-plane process and etcd's database size after each phase, Lease renewal gaps
and Ready transitions of every node. The last line is machine-readable:

    density: nodes=N pods=P startup_p99_s=X api_mutating_p99_s=Y rss_mb=Z ok=true|false
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import kubelet_steps
from bench.startup_phases import StartupPhases
from bench.stats import histogram_quantile, percentile, samples
from minik8s.api import errors
from minik8s.api.meta import condition_is_true, name_of
from minik8s.api.resources import DEPLOYMENTS, LEASES, NAMESPACES, NODES, PODS, SERVICES
from minik8s.api.times import format_time, parse_time
from minik8s.client.api import ApiClient
from minik8s.client.exceptions import ServerUnreachable
from minik8s.client.informer import Informer, UpdateHandler
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.componentbase import options
from tests.support.controllers import ControllerManager
from tests.support.processes import (
    Apiserver,
    Etcd,
    Process,
    cpu_seconds,
    free_port,
    pss_mib,
    rss_mib,
    temp_dir,
)

NS = "density"
STARTUP_SLO = 5.0
MUTATING_SLO = 1.0
LIST_SLO = 30.0
KUBEMARK_NICE = 19
"""The kubemark processes' niceness: kubemark runs hollow nodes on machines of their own."""
REJECTED = "apiserver_flowcontrol_rejected_requests_total"
WATCH_EVENTS = "apiserver_watch_events_total"
MUTATING = ("create", "update", "patch", "delete", "deletecollection")


# --- the cluster ---------------------------------------------------------------------------


@dataclass
class Cluster:
    """The control plane's processes (name -> pid), its admin kubeconfig, and the hollow nodes."""

    work: Path
    kubeconfig: Path = Path()
    node_kubeconfigs: Path | None = None
    proxy_kubeconfig: Path | None = None
    control_plane: dict[str, int] = field(default_factory=dict)
    hollow: list[Process] = field(default_factory=list)

    def hollow_pids(self) -> list[int]:
        return [p.popen.pid for p in self.hollow if p.popen is not None]


@contextlib.contextmanager
def launcher_cluster(work: Path) -> Iterator[Cluster]:
    """`minik8s up --nodes 0` in its own home: the whole control plane, each with its identity."""
    from tests.support.launcher import make_launcher

    launcher = make_launcher(work / "home")
    cluster = Cluster(work)
    try:
        launcher.up("--nodes", "0", "--fake-nodes", "0")
        cluster.kubeconfig = launcher.kubeconfig
        cluster.control_plane = launcher.pids()
        cluster.node_kubeconfigs = work / "home" / "kubeconfigs"
        cluster.proxy_kubeconfig = cluster.node_kubeconfigs / "proxy.conf"
        yield cluster
    finally:
        _stop_hollow(cluster)
        launcher.teardown()


@contextlib.contextmanager
def process_cluster(work: Path) -> Iterator[Cluster]:
    """etcd, the apiserver (admin token), the scheduler and the controller-manager."""
    cluster = Cluster(work)
    etcd = Etcd(work / "etcd")
    apiserver: Apiserver | None = None
    scheduler: Process | None = None
    cm: ControllerManager | None = None
    try:
        etcd.start()
        apiserver = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(8))
        apiserver.start()
        cluster.kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
        scheduler = Process(
            "scheduler",
            [sys.executable, "-m", "minik8s.scheduler.server", f"--kubeconfig={cluster.kubeconfig}",
             f"--healthz-port={free_port()}", "--v=warning"],
            work / "scheduler.log",
        )  # fmt: skip
        scheduler.start()
        cm = ControllerManager(
            cluster.kubeconfig, work / "controller-manager.log",
            extra_args=["--leader-elect=false", "--v=warning"],
        )  # fmt: skip
        cm.start()
        for name, proc in (
            ("etcd", etcd.process),
            ("apiserver", apiserver.process),
            ("scheduler", scheduler),
            ("controller-manager", cm.process),
        ):
            if proc is not None and proc.popen is not None:
                cluster.control_plane[name] = proc.popen.pid
        yield cluster
    finally:
        _stop_hollow(cluster)
        for part in (cm, scheduler):
            if part is not None:
                part.stop()
        if apiserver is not None:
            apiserver.stop()
        etcd.stop()


def issue_node_kubeconfigs(cluster: Cluster, nodes: list[str]) -> None:
    """In launcher mode: a client certificate and kubeconfig per hollow node (system:node:<n>)."""
    if cluster.node_kubeconfigs is None:
        return
    from minik8s.cli.launcher import identities

    home = cluster.node_kubeconfigs.parent
    server = load_kubeconfig(cluster.kubeconfig).server
    for node in nodes:
        identities.write_kubeconfig(
            home / "pki", server, identities.identity("kubelet", node),
            f"kubelet-{node}", cluster.node_kubeconfigs / f"kubelet-{node}.conf",
        )  # fmt: skip


def hollow_argv(
    cluster: Cluster, first: int, count: int, prefix: str, real_proxier: bool = True
) -> list[str]:
    """The command line of the kubemark process running nodes `first`…`first + count - 1`."""
    argv = [
        sys.executable, "-m", "minik8s.kubemark.server",
        f"--kubeconfig={cluster.kubeconfig}", f"--hollow-nodes={count}",
        f"--first-index={first}", f"--node-prefix={prefix}",
        f"--root-dir={cluster.work / 'kubemark'}", "--v=warning",
    ]  # fmt: skip
    if cluster.node_kubeconfigs is not None:
        argv.append(f"--kubeconfig-dir={cluster.node_kubeconfigs}")
    if cluster.proxy_kubeconfig is not None:
        argv.append(f"--proxy-kubeconfig={cluster.proxy_kubeconfig}")
    if not real_proxier:
        argv.append("--use-real-proxier=false")
    return argv


def start_hollow(
    cluster: Cluster, nodes: int, per_process: int, prefix: str,
    nice: int = 0, real_proxier: bool = True,
) -> None:  # fmt: skip
    """The kubemark processes, at `nice` lower CPU priority than the control plane: kubemark's
    hollow nodes run on machines of their own, never competing with what they measure."""
    for first in range(0, nodes, per_process):
        count = min(per_process, nodes - first)
        argv = hollow_argv(cluster, first, count, prefix, real_proxier)
        proc = Process(f"kubemark-{first}", argv, cluster.work / f"kubemark-{first}.log", nice=nice)
        proc.start()
        cluster.hollow.append(proc)


def _stop_hollow(cluster: Cluster) -> None:
    for proc in cluster.hollow:
        proc.stop(timeout=30)


# --- what we watch ---------------------------------------------------------------------------


@dataclass
class Observer:
    """Pods, Nodes and Leases as our own informers see them, with local monotonic times."""

    update_period: float
    created: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    ready_nodes: set[str] = field(default_factory=set)
    not_ready_transitions: list[tuple[str, float]] = field(default_factory=list)
    renewals: dict[str, tuple[str, float]] = field(default_factory=dict)
    max_gap: float = 0.0
    late_renewals: int = 0
    """Renewals that came more than 1.5 periods after the one before (one renewal missed)."""
    max_written_gap: float = 0.0
    late_written: int = 0
    """The same by the renewTimes the kubelets wrote (without our watch's delay)."""
    leaders: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    """kube-system Lease name -> (renewTime, holder, when seen)."""
    leader_max_gap: dict[str, float] = field(default_factory=dict)
    leader_seen_gap: dict[str, float] = field(default_factory=dict)
    leader_changes: dict[str, int] = field(default_factory=dict)
    """Holder changes (a release, a loss, a new leader) after the first sight."""

    def on_pod(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        now = time.monotonic()
        self.created.setdefault(uid, now)
        if (pod.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(uid, now)

    def on_node(self, node: dict[str, Any]) -> None:
        name = name_of(node)
        if condition_is_true(node, "Ready"):
            self.ready_nodes.add(name)
        elif name in self.ready_nodes:
            self.ready_nodes.discard(name)
            self.not_ready_transitions.append((name, time.monotonic()))

    def on_lease(self, lease: dict[str, Any]) -> None:
        name = name_of(lease)
        renew = (lease.get("spec") or {}).get("renewTime") or ""
        now = time.monotonic()
        before = self.renewals.get(name)
        if before is not None and before[0] != renew:
            gap = now - before[1]
            self.max_gap = max(self.max_gap, gap)
            if gap > 1.5 * self.update_period:
                self.late_renewals += 1
            if before[0] and renew:  # as the kubelet wrote them (its own view of its renewals)
                written = seconds_between(before[0], renew)
                self.max_written_gap = max(self.max_written_gap, written)
                if written > 1.5 * self.update_period:
                    self.late_written += 1
        if before is None or before[0] != renew:
            self.renewals[name] = (renew, now)

    def on_leader_lease(self, lease: dict[str, Any]) -> None:
        """A kube-system leader-election Lease: the gaps between its renewTimes (as its holder
        wrote them: how long it went without renewing), the gaps between our sightings of its
        renewals (that plus the apiserver's watch delay), and its changes of holder."""
        name = name_of(lease)
        spec = lease.get("spec") or {}
        renew, holder = spec.get("renewTime") or "", spec.get("holderIdentity") or ""
        now = time.monotonic()
        before = self.leaders.get(name)
        if before is not None and before[0] != renew:
            seen = now - before[2]
            self.leader_seen_gap[name] = max(self.leader_seen_gap.get(name, 0.0), seen)
            if before[0] and renew and holder == before[1]:
                gap = seconds_between(before[0], renew)
                self.leader_max_gap[name] = max(self.leader_max_gap.get(name, 0.0), gap)
        if before is not None and holder != before[1]:
            self.leader_changes[name] = self.leader_changes.get(name, 0) + 1
        if before is None or before[0] != renew or before[1] != holder:
            self.leaders[name] = (renew, holder, now)

    def startup_latencies(self, uids: set[str] | None = None) -> list[float]:
        return sorted(
            self.running[u] - self.created[u]
            for u in self.running
            if u in self.created and (uids is None or u in uids)
        )


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one RFC 3339 time to another (0 if either does not parse)."""
    a, b = parse_time(earlier), parse_time(later)
    return (b - a).total_seconds() if a is not None and b is not None else 0.0


# --- apiserver metrics -----------------------------------------------------------------------

Histograms = dict[tuple[str, str], dict[float, float]]


async def latency_histograms(client: ApiClient) -> Histograms:
    """apiserver_request_duration_seconds buckets (cumulative) by (verb, resource)."""
    text = str(await client.request("GET", "/metrics"))
    result: Histograms = {}
    for labels, value in samples(text, "apiserver_request_duration_seconds_bucket"):
        le = labels.get("le", "+Inf")
        bound = math.inf if le == "+Inf" else float(le)
        key = (labels.get("verb", ""), labels.get("resource", ""))
        result.setdefault(key, {})[bound] = value
    return result


async def counter_sums(client: ApiClient, metric: str, label: str) -> dict[str, float]:
    """The samples of `metric` in the apiserver's /metrics, summed by the value of `label`."""
    sums: dict[str, float] = {}
    for labels, value in samples(str(await client.request("GET", "/metrics")), metric):
        key = labels.get(label, "")
        sums[key] = sums.get(key, 0.0) + value
    return sums


async def print_kubelet_steps(client: ApiClient, args: argparse.Namespace, phase: str) -> None:
    """The hollow kubelets' own account of their pods' first syncs (`bench/kubelet_steps.py`),
    read from the first node of each kubemark process."""
    firsts = [f"{args.node_prefix}{i}" for i in range(0, args.nodes, args.nodes_per_process)]
    try:
        steps = await kubelet_steps.read(client, firsts)
    except (errors.ApiError, ServerUnreachable, OSError) as e:
        print(f"{phase}: the kubelets' first-sync steps: not read ({e})", flush=True)
        return
    print("\n".join(kubelet_steps.report(phase, steps)), flush=True)


def delta(after: Histograms, before: Histograms) -> Histograms:
    return {
        key: {b: c - before.get(key, {}).get(b, 0.0) for b, c in buckets.items()}
        for key, buckets in after.items()
    }


# --- processes -------------------------------------------------------------------------------


def etcd_db_mb(work: Path) -> float:
    return sum(p.stat().st_size for p in work.rglob("member/snap/db")) / 2**20


def cpu_of(pid: int) -> float:
    """CPU seconds of `pid`, 0 once it has exited (a component that died is reported so)."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def report_processes(cluster: Cluster, phase: str, cpu0: dict[str, float]) -> float:
    """Print RSS and CPU of each control-plane process; return the control plane's RSS in MB.
    Also printed: the processes' PSS in all, which counts each shared library page once (the
    RSS sum counts it once per process)."""
    parts, total, proportional = [], 0.0, 0.0
    for name, pid in sorted(cluster.control_plane.items()):
        rss = rss_mib(pid)
        total += rss
        proportional += pss_mib(pid)
        if not Path(f"/proc/{pid}").exists():
            parts.append(f"{name} EXITED")
            continue
        parts.append(f"{name} {rss:.0f}MB/{cpu_of(pid) - cpu0.get(name, 0.0):.0f}s")
    hollow = cluster.hollow_pids()
    hollow_rss = sum(rss_mib(p) for p in hollow)
    hollow_cpu = sum(cpu_of(p) for p in hollow) - cpu0.get("kubemark", 0.0)
    print(
        f"  [{phase}] control plane RSS {total:.0f} MB, PSS {proportional:.0f} MB "
        f"(RSS/CPU: {', '.join(parts)}); "
        f"etcd db {etcd_db_mb(cluster.work):.1f} MB; kubemark x{len(hollow)} "
        f"{hollow_rss:.0f} MB/{hollow_cpu:.0f}s; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return total


def cpu_now(cluster: Cluster) -> dict[str, float]:
    result = {name: cpu_of(pid) for name, pid in cluster.control_plane.items()}
    result["kubemark"] = sum(cpu_of(p) for p in cluster.hollow_pids())
    return result


# --- the workload ----------------------------------------------------------------------------


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "labels": {"group": "density"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": name, "group": "density"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {"name": "app", "image": "hollow:1", "ports": [{"containerPort": 80}]}
                    ],
                },
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 80}]},
    }


def sizes(total: int, per: int) -> list[int]:
    count = math.ceil(total / per)
    return [min(per, total - i * per) for i in range(count)]


async def paced(calls: list[Any], weights: list[int], qps: float) -> float:
    """Run `calls` (coroutine factories) so that `weights` (pods) flow at `qps`; return the
    seconds the pacing fell behind at the end (the API did not keep up)."""
    start = time.monotonic()
    due = 0.0
    pending: set[asyncio.Task[Any]] = set()
    for call, weight in zip(calls, weights, strict=True):
        wait = start + due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        pending.add(asyncio.create_task(call()))
        due += weight / qps
        done = {t for t in pending if t.done()}
        for t in done:
            t.result()
        pending -= done
    if pending:
        await asyncio.gather(*pending)
    return max(0.0, time.monotonic() - start - due)


CACHE_BEHIND: list[str] = []
"""Polls answered 504: the apiserver's watch cache was behind etcd (the bench keeps polling)."""


async def wait_for(what: str, check: Any, timeout: float, period: float = 1.0) -> float:
    start = time.monotonic()
    while True:
        try:
            if await check():
                break
        except errors.Timeout as e:
            CACHE_BEHIND.append(f"{what}: {e.message}")
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not reached after {timeout:.0f}s")
        await asyncio.sleep(period)
    return time.monotonic() - start


def progress(check: Any, pods: Informer, t0: float, every: float = 30.0) -> Any:
    """`check`, printing every `every` seconds where the pods are: not yet scheduled, bound
    but not Running, Running (as our watch sees them), to tell which stage fell behind."""
    last = [time.monotonic()]

    async def checked() -> bool:
        done = bool(await check())
        now = time.monotonic()
        if not done and now - last[0] >= every:
            last[0] = now
            print(f"  [{now - t0:.0f}s] " + pod_stages(pods.store.list()), flush=True)
        return done

    return checked


def pod_stages(pods: list[dict[str, Any]]) -> str:
    unscheduled = bound = running = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Running":
            running += 1
        elif (pod.get("spec") or {}).get("nodeName"):
            bound += 1
        else:
            unscheduled += 1
    return (f"pods seen {len(pods)}: {unscheduled} not scheduled, {bound} bound not Running, "
            f"{running} Running; load {os.getloadavg()[0]:.2f}")  # fmt: skip


async def deployments_settled(client: ApiClient, expected: dict[str, int], image: str) -> bool:
    # resourceVersion "0": what the watch cache holds, without waiting for it to catch up
    items = (await client.list(DEPLOYMENTS, NS, resource_version="0")).get("items") or []
    done = 0
    for d in items:
        status, spec = d.get("status") or {}, d["spec"]
        want = expected.get(name_of(d))
        if (
            want is not None
            and spec["template"]["spec"]["containers"][0]["image"] == image
            and status.get("observedGeneration") == d["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("replicas", 0) == want
        ):
            done += 1
    return done == len(expected)


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    nodes: int
    pods: int
    startup: list[float]
    api: Histograms
    rss_mb: float
    not_ready: int
    late_renewals: int
    max_gap: float
    behind: list[str]
    converged: bool = True
    """Every phase finished within `--timeout`."""

    def api_p99(self, verbs: tuple[str, ...], skip: tuple[str, ...] = ()) -> float:
        worst = 0.0
        for (verb, resource), buckets in self.api.items():
            if verb in verbs and resource not in skip:
                worst = max(worst, histogram_quantile(buckets, 0.99))
        return worst

    @property
    def ok(self) -> bool:
        return (
            (
                not self.pods
                or (bool(self.startup) and percentile(self.startup, 0.99) <= STARTUP_SLO)
            )
            and self.api_p99(MUTATING) <= MUTATING_SLO
            and self.api_p99(("get",)) <= MUTATING_SLO
            and self.api_p99(("list",)) <= LIST_SLO
            and self.not_ready == 0
            and self.late_renewals == 0
            and self.converged
        )

    def line(self) -> str:
        return (
            f"density: nodes={self.nodes} pods={self.pods} "
            f"startup_p99_s={percentile(self.startup, 0.99):.2f} "
            f"api_mutating_p99_s={self.api_p99(MUTATING):.3f} rss_mb={self.rss_mb:.0f} "
            f"ok={'true' if self.ok else 'false'}"
        )


def on_new(handler: Callable[[dict[str, Any]], None]) -> UpdateHandler:
    """An informer's update handler that hands the new object to `handler`."""
    return lambda old, new: handler(new)


async def density(cluster: Cluster, args: argparse.Namespace) -> Result:
    client = ApiClient(load_kubeconfig(str(cluster.kubeconfig)))
    observer = Observer(update_period=10.0)
    informers = [
        Informer(client, NODES, name="density nodes"),
        Informer(client, LEASES, namespace="kube-node-lease", name="density leases"),
        Informer(client, PODS, namespace=NS, name="density pods"),
        Informer(client, LEASES, namespace="kube-system", name="density leader leases"),
    ]
    handlers = (observer.on_node, observer.on_lease, observer.on_pod, observer.on_leader_lease)
    phases = StartupPhases()
    informers[2].add_event_handler(phases.on_pod, on_new(phases.on_pod))
    for informer, handler in zip(informers, handlers, strict=True):
        informer.add_event_handler(handler, on_new(handler), lambda obj: None)
        informer.start()
    behind: list[str] = []
    total_pods = args.nodes * args.pods_per_node
    try:
        for informer in informers:
            await informer.wait_synced(60)
        cpu0 = cpu_now(cluster)
        api0 = await latency_histograms(client)
        began = time.monotonic()

        # nodes
        names = [f"{args.node_prefix}{i}" for i in range(args.nodes)]
        issue_node_kubeconfigs(cluster, names)
        start_hollow(
            cluster, args.nodes, args.nodes_per_process, args.node_prefix,
            nice=args.kubemark_nice, real_proxier=args.use_real_proxier,
        )  # fmt: skip

        async def all_ready() -> bool:
            return len(observer.ready_nodes & set(names)) == args.nodes

        took = await wait_for("all hollow nodes Ready", all_ready, args.timeout)
        print(f"nodes: {args.nodes} hollow nodes Ready in {took:.1f}s", flush=True)
        report_processes(cluster, "nodes", cpu0)
        print(f"nodes: {len(observer.not_ready_transitions)} Ready -> NotReady while registering; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        observer.not_ready_transitions.clear()  # registration flaps are not spurious NotReady
        if args.stop_after == "nodes":
            rss = await hold(cluster, client, observer, args.hold)
            api = delta(await latency_histograms(client), api0)
            rejected = await counter_sums(client, REJECTED, "priority_level")
            return finish(cluster, observer, args, 0, [], api, behind, began, rss, rejected)

        # create
        await client.create(NAMESPACES, {"metadata": {"name": NS}})
        replicas = sizes(total_pods, args.pods_per_deployment)
        expected = {f"d{i}": n for i, n in enumerate(replicas)}

        def create(name: str, n: int) -> Any:
            async def go() -> None:
                await client.create(SERVICES, service(name), NS)
                await client.create(DEPLOYMENTS, deployment(name, n), NS)

            return go

        t0 = time.monotonic()
        late = await paced([create(n, c) for n, c in expected.items()], replicas, args.qps)
        if late > 1:
            behind.append(f"create: requests fell {late:.1f}s behind the {args.qps}/s pace")
        try:
            took = await wait_for(
                "every Deployment available",
                progress(
                    lambda: deployments_settled(client, expected, "hollow:1"), informers[2], t0
                ),
                args.timeout,
            )
        except TimeoutError as e:  # say where the pods waited, then the run's figures
            print(f"create: {e} ({time.monotonic() - t0:.0f}s after the first request); "
                  + pod_stages(informers[2].store.list()), flush=True)  # fmt: skip
            print("\n".join(phases.report("create", set(observer.created))), flush=True)
            rss = report_processes(cluster, "create", cpu0)
            behind.append(f"create: {e}")
            api = delta(await latency_histograms(client), api0)
            rejected = await counter_sums(client, REJECTED, "priority_level")
            result = finish(cluster, observer, args, total_pods, observer.startup_latencies(),
                            api, behind, began, rss, rejected)  # fmt: skip
            return dataclasses.replace(result, converged=False)
        first = set(observer.created)
        lat = observer.startup_latencies(first)
        print(
            f"create: {total_pods} pods in {len(expected)} Deployments (+ Services) at "
            f"{args.qps}/s: all available {time.monotonic() - t0:.1f}s after the first "
            f"({took:.1f}s after the last request); startup p50 {percentile(lat, 0.5):.2f}s "
            f"p90 {percentile(lat, 0.9):.2f}s p99 {percentile(lat, 0.99):.2f}s (n={len(lat)})",
            flush=True,
        )
        print("\n".join(phases.report("create", first)), flush=True)
        await print_kubelet_steps(client, args, "create")
        rss = report_processes(cluster, "create", cpu0)
        if args.hold:
            await hold(cluster, client, observer, args.hold)

        if args.stop_after != "create":
            # rollout
            def update(name: str) -> Any:
                async def go() -> None:
                    body = {"spec": {"template": {"spec": {"containers": [
                        {"name": "app", "image": "hollow:2"}]}}}}  # fmt: skip
                    await client.patch(
                        DEPLOYMENTS, name, body, namespace=NS, patch_type="strategic"
                    )

                return go

            t0 = time.monotonic()
            late = await paced([update(n) for n in expected], replicas, args.qps)
            if late > 1:
                behind.append(f"rollout: requests fell {late:.1f}s behind the {args.qps}/s pace")
            await wait_for(
                "every Deployment rolled out",
                lambda: deployments_settled(client, expected, "hollow:2"),
                args.timeout,
            )
            new = set(observer.created) - first
            lat = observer.startup_latencies(new)
            print(
                f"rollout: {len(new)} new pods; all updated and available in "
                f"{time.monotonic() - t0:.1f}s; startup p50 {percentile(lat, 0.5):.2f}s "
                f"p99 {percentile(lat, 0.99):.2f}s",
                flush=True,
            )
            print("\n".join(phases.report("rollout", new)), flush=True)
            report_processes(cluster, "rollout", cpu0)

            # scale down
            halves = {n: c // 2 for n, c in expected.items()}

            def scale(name: str, n: int) -> Any:
                async def go() -> None:
                    await client.patch(DEPLOYMENTS, name, {"spec": {"replicas": n}}, namespace=NS)

                return go

            t0 = time.monotonic()
            await paced([scale(n, c) for n, c in halves.items()], replicas, args.qps * 2)
            await wait_for(
                "every Deployment scaled down",
                lambda: deployments_settled(client, halves, "hollow:2"),
                args.timeout,
            )
            print(
                f"scale: to {sum(halves.values())} pods in {time.monotonic() - t0:.1f}s", flush=True
            )
            report_processes(cluster, "scale", cpu0)

            # delete
            t0 = time.monotonic()

            def remove(name: str) -> Any:
                async def go() -> None:
                    await client.delete(DEPLOYMENTS, name, NS, propagation_policy="Background")
                    await client.delete(SERVICES, name, NS)

                return go

            await paced([remove(n) for n in expected], [c for c in halves.values()], args.qps * 2)

            async def no_pods() -> bool:
                return not (await client.list(PODS, NS, resource_version="0")).get("items")

            await wait_for("every pod deleted", no_pods, args.timeout)
            print(f"delete: all gone in {time.monotonic() - t0:.1f}s", flush=True)
            rss = report_processes(cluster, "delete", cpu0)

        api = delta(await latency_histograms(client), api0)
        rejected = await counter_sums(client, REJECTED, "priority_level")
        return finish(cluster, observer, args, total_pods, observer.startup_latencies(), api,
                      behind, began, rss, rejected)  # fmt: skip
    finally:
        for informer in informers:
            await informer.stop()
        await client.aclose()


async def hold(cluster: Cluster, client: ApiClient, observer: Observer, seconds: float) -> float:
    """Leave the cluster alone for `seconds`: what Lease renewals, node status updates and the
    controllers' periodic work cost with no pod churn (CPU as a share of one core), and the
    watch events the apiserver sent meanwhile."""
    if seconds <= 0:
        return 0.0
    sent0 = await watch_events(client)
    cpu0, t0 = cpu_now(cluster), time.monotonic()
    late0 = observer.late_renewals
    await asyncio.sleep(seconds)
    took = time.monotonic() - t0
    cpu1 = cpu_now(cluster)
    sent1 = await watch_events(client)
    sent = delta_sums(sent1, sent0) if sent0 is not None and sent1 is not None else None
    shares = {n: (cpu1[n] - cpu0.get(n, 0.0)) / took * 100 for n in cpu1}
    control = sum(v for n, v in shares.items() if n != "kubemark")
    print(
        f"hold: {took:.0f}s idle: control plane {control:.0f}% of a core ("
        + ", ".join(f"{n} {v:.1f}%" for n, v in sorted(shares.items()) if n != "kubemark")
        + f"); kubemark {shares.get('kubemark', 0.0):.0f}%; "
        f"{observer.late_renewals - late0} late Lease renewals; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if sent is None:
        print("hold: watch events sent: the apiserver's /metrics did not answer", flush=True)
        return report_processes(cluster, "hold", cpu0)
    print(
        f"hold: watch events sent {sum(sent.values()) / took:.0f}/s ("
        + ", ".join(
            f"{r} {n / took:.0f}/s" for r, n in sorted(sent.items(), key=lambda x: -x[1]) if n
        )
        + ")",
        flush=True,
    )
    return report_processes(cluster, "hold", cpu0)


async def watch_events(client: ApiClient) -> dict[str, float] | None:
    """apiserver_watch_events_total by resource; None when the apiserver does not answer (a
    saturated one refuses new connections: the bench goes on without the figure)."""
    try:
        return await counter_sums(client, WATCH_EVENTS, "resource")
    except ServerUnreachable:
        return None


def delta_sums(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def heap_report(cluster: Cluster, work: Path, timeout: float = 15.0) -> None:
    """With `--heap-probe`: each Python control-plane process's heap (bench/heapprobe)."""
    print("heap (MB): RSS = glibc malloc in use + free kept + pymalloc arenas + the rest; "
          "RSS after malloc_trim(0):")  # fmt: skip
    for name, pid in sorted(cluster.control_plane.items()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue  # gone
        if b"python" not in argv:
            continue
        path = work / f"heap-{pid}.json"
        path.unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not path.exists():
            print(f"  {name}: no answer in {timeout:.0f}s")
            continue
        h = json.loads(path.read_text())
        traced = work / f"heap-{pid}-tracemalloc.txt"
        if traced.exists():
            print(f"  {name}: live allocation sites (tracemalloc):")
            print("    " + traced.read_text().replace("\n", "\n    ").rstrip(), flush=True)
        print(
            f"  {name:<26} RSS {h['rss_mb']:6.1f}  malloc in use {h['malloc_in_use_mb']:6.1f} "
            f"free kept {h['malloc_free_kept_mb']:6.1f} (mmap {h['malloc_mmap_mb']:5.1f})  "
            f"pymalloc used {h.get('pymalloc_used_mb', 0):6.1f} of "
            f"{h.get('pymalloc_arenas', 0):4.0f} arenas  threads {h['threads']:3.0f}  "
            f"fds {h.get('fds', 0):5.0f}  "
            f"RSS after trim {h['rss_after_trim_mb']:6.1f}",
            flush=True,
        )


def finish(
    cluster: Cluster, observer: Observer, args: argparse.Namespace, total_pods: int,
    startup: list[float], api: Histograms, behind: list[str], began: float, rss: float,
    rejected: dict[str, float] | None = None,
) -> Result:  # fmt: skip
    rejected = rejected or {}
    print(f"pod startup (all {len(startup)}): p50 {percentile(startup, 0.5):.2f}s "
          f"p90 {percentile(startup, 0.9):.2f}s p99 {percentile(startup, 0.99):.2f}s "
          f"(SLO p99 <= {STARTUP_SLO:.0f}s)")  # fmt: skip
    print("API call latency (whole run, watches excluded):")
    for (verb, resource), buckets in sorted(api.items()):
        count = buckets.get(math.inf, 0.0)
        if verb == "watch" or count <= 0:
            continue
        slo = LIST_SLO if verb == "list" else MUTATING_SLO
        p99 = histogram_quantile(buckets, 0.99)
        print(f"  {verb:>8} {resource:<28} n={count:>7.0f} p50 "
              f"{histogram_quantile(buckets, 0.5) * 1000:7.1f}ms p99 {p99 * 1000:7.1f}ms"
              f"{'  OVER SLO' if p99 > slo else ''}")  # fmt: skip
    print(
        f"nodes: {len(observer.not_ready_transitions)} spurious NotReady; Lease renewal "
        f"gaps: max {observer.max_gap:.1f}s, {observer.late_renewals} late (> 1.5 x 10s) as our "
        f"watch saw them; by renewTime max {observer.max_written_gap:.1f}s, "
        f"{observer.late_written} late; "
        f"run {time.monotonic() - began:.0f}s"
    )
    end = format_time(datetime.now(UTC))
    leader_gaps = ", ".join(
        f"{n} max renewTime gap {observer.leader_max_gap.get(n, 0.0):.1f}s "
        f"(seen {observer.leader_seen_gap.get(n, 0.0):.1f}s), "
        f"{observer.leader_changes.get(n, 0)} holder changes, last renewal "
        f"{seconds_between(observer.leaders[n][0], end):.0f}s before the end"
        for n in sorted(observer.leaders)
        if observer.leaders[n][0]
    )
    print(f"leader election (kube-system Leases): {leader_gaps or 'none seen'}")
    if rejected:
        print("apiserver 429s (apiserver_flowcontrol_rejected_requests_total) by priority level: "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rejected.items())))  # fmt: skip
    changes = sum(observer.leader_changes.values())
    if changes:
        behind.append(f"{changes} leader-election holder changes")
    if CACHE_BEHIND:
        behind.append(
            f"the apiserver's watch cache was behind etcd at {len(CACHE_BEHIND)} polls "
            f"(first: {CACHE_BEHIND[0]})"
        )
    if percentile(startup, 0.99) > STARTUP_SLO:
        behind.append("pod startup p99 over the SLO")
    if observer.late_renewals:
        behind.append(f"{observer.late_renewals} late Lease renewals")
    if args.heap_probe or args.heap_trace:
        # a tracemalloc snapshot of a few hundred MB of live objects takes a while
        heap_report(cluster, cluster.work, timeout=180.0 if args.heap_trace else 15.0)
    return Result(
        args.nodes, total_pods, startup, api, rss, len(observer.not_ready_transitions),
        observer.late_renewals, observer.max_gap, behind,
    )  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--qps", type=float, default=10.0, help="pods created per second")
    p.add_argument("--pods-per-deployment", type=int, default=10)
    p.add_argument("--nodes-per-process", type=int, default=50)
    p.add_argument("--node-prefix", default="hollow-node-")
    p.add_argument("--control-plane", choices=("launcher", "processes"), default="launcher")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds each phase may take")
    p.add_argument(
        "--stop-after", choices=("nodes", "create", "delete"), default="delete",
        help="nodes: only node registration (then --hold); create: nodes and the creation phase",
    )  # fmt: skip
    p.add_argument(
        "--hold", type=float, default=0.0,
        help="seconds to leave the cluster idle after the last phase (steady-state CPU, Leases)",
    )  # fmt: skip
    p.add_argument(
        "--kubemark-nice", type=int, default=KUBEMARK_NICE, metavar="N",
        help="run the kubemark processes at niceness +N, below the control plane (0: same)",
    )  # fmt: skip
    options.bool_flag(
        p, "--use-real-proxier", True,
        "hollow proxies render their rules; false: kubemark's fake proxier (informers only)",
    )  # fmt: skip
    p.add_argument(
        "--heap-probe", action="store_true",
        help="report each Python control-plane process's heap (glibc, pymalloc, malloc_trim)",
    )  # fmt: skip
    p.add_argument(
        "--heap-trace", type=int, default=0, metavar="FRAMES",
        help="with the heap probe, run the apiserver under tracemalloc (FRAMES deep, 1-5: it "
        "slows the apiserver) and print its top allocation sites",
    )  # fmt: skip
    return p.parse_args(argv)


def harness_line(args: argparse.Namespace) -> str:
    """How the hollow nodes run: their CPU priority and proxy mode (they share the machine)."""
    nice = (
        f"nice +{args.kubemark_nice} (below the control plane)"
        if args.kubemark_nice
        else "the control plane's priority"
    )
    proxier = "real proxier" if args.use_real_proxier else "fake proxier (informers only)"
    return f"harness: {args.nodes_per_process} hollow nodes per kubemark process, {nice}, {proxier}"


def run(args: argparse.Namespace) -> Result:
    work = temp_dir("minik8s-bench-density-")
    if args.heap_trace:
        os.environ["MINIK8S_HEAP_TRACE"] = str(args.heap_trace)
        os.environ["MINIK8S_HEAP_TRACE_ONLY"] = "minik8s.apiserver"
    if args.heap_probe or args.heap_trace:  # every process the bench starts loads the probe
        probe = str(Path(__file__).resolve().parent / "heapprobe")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [probe, os.environ.get("PYTHONPATH")])
        )
        os.environ["MINIK8S_HEAP_PROBE_DIR"] = str(work)
    cluster_of = launcher_cluster if args.control_plane == "launcher" else process_cluster
    print(f"density: {args.nodes} nodes x {args.pods_per_node} pods at {args.qps} pods/s; "
          f"load {os.getloadavg()[0]:.2f}; work {work}", flush=True)  # fmt: skip
    print(harness_line(args), flush=True)
    try:
        with cluster_of(work) as cluster:
            result = asyncio.run(density(cluster, args))
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if result.behind:
        print("fell behind: " + "; ".join(result.behind))
    else:
        print("fell behind: nothing")
    print(result.line(), flush=True)
    return result


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM tears the cluster down as Ctrl-C does


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    result = run(parse_args())
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
