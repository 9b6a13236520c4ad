"""Workload controllers at scale on hollow nodes, one subcommand per workload.

    .venv/bin/python -m bench.workloads daemonset [--nodes 100] [--max-unavailable 1]
                                                   [--max-surge 0]
    .venv/bin/python -m bench.workloads jobs [--completions 1000] [--parallelism 100] [--nodes 50]
                                              [--node-status-update-frequency 10]

Both start etcd, the apiserver, the scheduler, the controller-manager and hollow kubelets (real
kubelet processes with `--runtime fake`: the same pod workers and status manager, containers
in memory).

`daemonset`: creates a DaemonSet, waits until every node runs an available daemon pod, then
changes its image and measures the RollingUpdate until every node runs an updated, available
pod (kubectl's `rollout status` condition). Prints both times and the CPU seconds of the
controller-manager, the scheduler and the apiserver in each phase.

`jobs`: the hollow kubelets renew their Lease every `--node-status-update-frequency` seconds
(Kubernetes' default 10 s, as the density bench's hollow nodes; the tests' kubelets use 2 s).
Runs one Job of `--completions` pods, `--parallelism` at a time, whose container is
`true` (the hollow runtime exits it at once with 0), with the Job controller alone. Prints
completions per second from the Job's creation to its Complete condition, the
controller-manager's CPU per completion, the CPU of every other process, the apiserver's writes
per completion, and how busy the machine's cores were (all of it, including whatever else ran).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api import meta
from minik8s.api.resources import DAEMONSETS, JOBS, NAMESPACES, NODES
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support.controllers import ControllerManager
from tests.support.kubelet import Kubelet
from tests.support.processes import Apiserver, Etcd, Process, cpu_seconds, free_port, temp_dir

NS = "bench"


def daemonset(image: str, max_unavailable: int | str, max_surge: int | str) -> dict[str, Any]:
    return {
        "metadata": {"name": "agent", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge},
            },
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": image}]},
            },
        },
    }


async def wait_rolled_out(client: ApiClient, nodes: int, timeout: float) -> float:
    """Seconds until kubectl's `rollout status ds/agent` would say "successfully rolled out"."""
    start = time.monotonic()
    status: dict[str, Any] = {}
    while time.monotonic() - start < timeout:
        ds = await client.get(DAEMONSETS, "agent", NS)
        status = ds.get("status") or {}
        if (
            status.get("observedGeneration") == ds["metadata"]["generation"]
            and status.get("desiredNumberScheduled") == nodes
            and status.get("updatedNumberScheduled") == nodes
            and status.get("numberAvailable") == nodes
        ):
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise TimeoutError(f"daemonset not rolled out after {timeout}s: {status}")


class Cpu:
    """CPU seconds of the control-plane processes since the last `lap()`."""

    def __init__(self, processes: dict[str, Process]) -> None:
        self.pids = {name: p.popen.pid for name, p in processes.items() if p.popen is not None}
        self.last = self._now()

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def lap(self) -> str:
        now = self._now()
        used = {name: now[name] - self.last[name] for name in now}
        self.last = now
        return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in used.items())


async def daemonset_rollout(args: argparse.Namespace, kubeconfig: Path, cpu: Cpu) -> None:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        await client.create(NAMESPACES, {"metadata": {"name": NS}})
        cpu.lap()
        await client.create(
            DAEMONSETS, daemonset("agent:1", args.max_unavailable, args.max_surge), NS
        )
        up = await wait_rolled_out(client, args.nodes, args.timeout)
        print(
            f"daemon pods on {args.nodes} hollow nodes available in {up:.1f}s  (CPU: {cpu.lap()})"
        )
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}
        }
        started = time.monotonic()
        await client.patch(DAEMONSETS, "agent", patch, namespace=NS, patch_type="strategic")
        await wait_rolled_out(client, args.nodes, args.timeout)
        rolled = time.monotonic() - started
        print(
            f"RollingUpdate (maxUnavailable {args.max_unavailable}, maxSurge {args.max_surge}) "
            f"over {args.nodes} hollow nodes: all updated in {rolled:.1f}s  "
            f"(CPU: {cpu.lap()})"
        )


def run_daemonset(args: argparse.Namespace) -> None:
    work = temp_dir("minik8s-bench-workloads-")
    etcd = Etcd(work / "etcd")
    apiserver = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
    started: list[Any] = []
    try:
        etcd.start()
        apiserver.start()
        kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
        scheduler = Process(
            "scheduler",
            [
                sys.executable,
                "-m",
                "minik8s.scheduler.server",
                f"--kubeconfig={kubeconfig}",
                f"--healthz-port={free_port()}",
                "--leader-elect=false",
            ],
            work / "scheduler.log",
        )
        scheduler.start()
        started.append(scheduler)
        cm = ControllerManager(
            kubeconfig,
            work / "controller-manager.log",
            extra_args=["--leader-elect=false", "--v=info"],
        )
        cm.start()
        started.append(cm)
        kubelets = [
            Kubelet(
                kubeconfig,
                work / f"hollow-{i}",
                node_name=f"hollow-{i:03d}",
                runtime="fake",
                port=0,  # a free one, picked by the kubelet itself (no race)
                extra_args=["--v", "warning"],
            )
            for i in range(args.nodes)
        ]
        began = time.monotonic()
        for kubelet in kubelets:
            kubelet.start()
            started.append(kubelet)
        asyncio.run(_wait_ready(kubeconfig, args.nodes))  # 100 processes start slowly when busy
        print(f"{args.nodes} hollow kubelets Ready in {time.monotonic() - began:.1f}s")
        assert cm.process is not None and apiserver.process is not None
        cpu = Cpu(
            {
                "controller-manager": cm.process,
                "scheduler": scheduler,
                "apiserver": apiserver.process,
            }
        )
        asyncio.run(daemonset_rollout(args, kubeconfig, cpu))
    finally:
        for component in reversed(started):
            component.stop()
        apiserver.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


async def _wait_ready(kubeconfig: Path, nodes: int) -> None:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        await wait_nodes_ready(client, nodes, timeout=300)


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


# --- jobs ----------------------------------------------------------------------------------


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


@dataclass
class HollowCluster:
    """etcd, apiserver, scheduler, controller-manager and hollow kubelets, as processes."""

    work: Path
    nodes: int
    controllers: str
    etcd: Etcd | None = None
    apiserver: Apiserver | None = None
    scheduler: Process | None = None
    cm: ControllerManager | None = None
    kubelets: list[Kubelet] = field(default_factory=list)
    kubeconfig: Path = Path()

    def pids(self) -> dict[str, list[int]]:
        def pid(p: Process | None) -> list[int]:
            return [p.popen.pid] if p is not None and p.popen is not None else []

        return {
            "etcd": pid(self.etcd.process if self.etcd else None),
            "apiserver": pid(self.apiserver.process if self.apiserver else None),
            "scheduler": pid(self.scheduler),
            "controller-manager": pid(self.cm.process if self.cm else None),
            "kubelets": [q for k in self.kubelets for q in pid(k.process)],
        }

    def cpu(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids().items()}


@contextlib.contextmanager
def hollow_cluster(
    nodes: int, controllers: str, status_frequency: float = 2.0
) -> Iterator[HollowCluster]:
    work = temp_dir("minik8s-bench-workloads-")
    cluster = HollowCluster(work, nodes, controllers)
    try:
        cluster.etcd = Etcd(work / "etcd")
        cluster.etcd.start()
        cluster.apiserver = Apiserver(
            cluster.etcd.url, work / "apiserver", token=secrets.token_hex(8)
        )
        cluster.apiserver.start()
        cluster.kubeconfig = cluster.apiserver.write_kubeconfig(work / "kubeconfig")
        cluster.scheduler = Process(
            "scheduler",
            [
                sys.executable,
                "-m",
                "minik8s.scheduler.server",
                f"--kubeconfig={cluster.kubeconfig}",
                f"--healthz-port={free_port()}",
                "--v=1",
            ],
            work / "scheduler.log",
        )
        cluster.scheduler.start()
        cluster.cm = ControllerManager(
            cluster.kubeconfig,
            work / "controller-manager.log",
            extra_args=["--leader-elect=false", "--v=warning", f"--controllers={controllers}"],
        )
        cluster.cm.start()
        for i in range(nodes):
            kubelet = Kubelet(
                cluster.kubeconfig,
                work / f"hollow-{i}",
                node_name=f"hollow-{i}",
                runtime="fake",
                extra_args=[
                    "--v",
                    "warning",
                    f"--node-status-update-frequency={status_frequency:g}",
                ],
            )
            kubelet.start()
            cluster.kubelets.append(kubelet)
        yield cluster
    finally:
        for kubelet in cluster.kubelets:
            kubelet.stop()
        for part in (cluster.cm, cluster.scheduler):
            if part is not None:
                part.stop()
        if cluster.apiserver is not None:
            cluster.apiserver.stop()
        if cluster.etcd is not None:
            cluster.etcd.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


async def wait_nodes_ready(client: ApiClient, count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    print(f"waiting for {count} hollow nodes to be Ready", file=sys.stderr)
    while time.monotonic() < deadline:
        nodes = (await client.list(NODES)).get("items") or []
        ready = sum(1 for n in nodes if meta.condition_is_true(n, "Ready"))
        if ready >= count:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{count} hollow nodes not Ready after {timeout}s")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one metric in a Prometheus text page: (labels, value)."""
    found = []
    for line in text.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        labels: dict[str, str] = {}
        if "{" in line:
            inside = line[line.index("{") + 1 : line.index("}")].replace('"', "")
            labels = dict(part.split("=", 1) for part in inside.split(",") if "=" in part)
        found.append((labels, float(line.rsplit(" ", 1)[1])))
    return found


async def api_counts(client: ApiClient, etcd_url: str) -> dict[str, float]:
    """What the cluster did so far: apiserver writes by verb and resource (`write ...`),
    events sent to watches by resource (`watch ...`), etcd puts, deletes and txns."""
    counts: dict[str, float] = {}
    text = str(await client.request("GET", "/metrics"))
    for labels, value in _samples(text, "apiserver_request_total"):
        if labels.get("verb") not in ("get", "list", "watch"):
            key = f"write {labels.get('verb')} {labels.get('resource')}"
            counts[key] = counts.get(key, 0.0) + value
    for labels, value in _samples(text, "apiserver_watch_events_total"):
        counts[f"watch {labels.get('resource')}"] = value
    page = await asyncio.to_thread(
        lambda: urllib.request.urlopen(etcd_url + "/metrics", timeout=10).read().decode()
    )
    for name in ("put", "delete", "txn"):
        counts[f"etcd {name}"] = sum(v for _, v in _samples(page, f"etcd_mvcc_{name}_total"))
    return counts


def per_completion(before: dict[str, float], after: dict[str, float], kind: str, n: int) -> str:
    """`kind` counts of the run per completion, most first."""
    diff = {
        key.removeprefix(kind + " "): after[key] - before.get(key, 0.0)
        for key in after
        if key.startswith(kind + " ")
    }
    ranked = sorted(((k, v) for k, v in diff.items() if v > 0), key=lambda kv: -kv[1])
    total = sum(v for _, v in ranked) / max(1, n)
    return f"{total:.2f}: " + ", ".join(f"{k} {v / max(1, n):.2f}" for k, v in ranked[:10])


def job_manifest(completions: int, parallelism: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "burst", "namespace": NS},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "work", "image": "hollow:1", "command": ["true"]}],
                }
            },
        },
    }


async def run_jobs_async(args: argparse.Namespace, cluster: HollowCluster) -> None:
    async with ApiClient(load_kubeconfig(cluster.kubeconfig)) as client:
        await wait_nodes_ready(client, args.nodes)
        await client.create(NAMESPACES, {"metadata": {"name": NS}})
        assert cluster.etcd is not None
        counts0 = await api_counts(client, cluster.etcd.url)
        load = os.getloadavg()
        cpu0, busy0 = cluster.cpu(), machine_busy()
        print("nodes Ready; creating the Job", file=sys.stderr, flush=True)
        start = time.monotonic()
        await client.create(JOBS, job_manifest(args.completions, args.parallelism), NS)
        marks: list[tuple[float, int]] = []
        while True:
            job = await client.get(JOBS, "burst", NS)
            status = job.get("status") or {}
            marks.append((time.monotonic() - start, int(status.get("succeeded") or 0)))
            done = meta.condition_is_true(job, "Complete")
            if done or time.monotonic() - start > args.timeout:
                break
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - start
        cpu1, busy1 = cluster.cpu(), machine_busy()
        counts1 = await api_counts(client, cluster.etcd.url)
    succeeded = int(status.get("succeeded") or 0)
    if not done:
        raise SystemExit(f"the Job did not complete in {args.timeout:g}s: {status}")
    cores = os.cpu_count() or 1
    busy = (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1])
    spent = {name: cpu1[name] - cpu0[name] for name in cpu0}
    half = next((t for t, n in marks if n >= succeeded // 2), elapsed)
    print(
        f"Job of {args.completions} completions, parallelism {args.parallelism}, on "
        f"{args.nodes} hollow nodes: Complete after {elapsed:.1f}s"
    )
    print(
        f"  {succeeded / elapsed:.0f} completions/s end to end "
        f"(first half {succeeded // 2 / half:.0f}/s); status.succeeded={succeeded}, "
        f"failed={status.get('failed', 0)}"
    )
    print(
        f"  controller-manager CPU {spent['controller-manager']:.1f}s = "
        f"{1000 * spent['controller-manager'] / max(1, succeeded):.2f} ms per completion"
    )
    print("  CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in spent.items()))
    print(
        f"  CPU ms per completion {1000 * sum(spent.values()) / max(1, succeeded):.1f}: "
        + ", ".join(f"{k} {1000 * v / max(1, succeeded):.1f}" for k, v in spent.items())
    )
    for kind, what in (
        ("write", "apiserver writes"),
        ("watch", "watch events sent"),
        ("etcd", "etcd ops"),
    ):
        print(f"  {what} per completion " + per_completion(counts0, counts1, kind, succeeded))
    print(
        f"  machine: {cores} cores {100 * busy:.0f}% busy during the run "
        f"(load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )


def run_jobs(args: argparse.Namespace) -> None:
    frequency = args.node_status_update_frequency
    with hollow_cluster(args.nodes, "job,garbagecollector", frequency) as cluster:
        asyncio.run(run_jobs_async(args, cluster))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # runs the clean-up of every process


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="workload", required=True)
    ds = commands.add_parser("daemonset", help="a DaemonSet rolled over hollow nodes")
    ds.add_argument("--nodes", type=int, default=100)
    ds.add_argument("--max-unavailable", type=_int_or_percent, default=1)
    ds.add_argument("--max-surge", type=_int_or_percent, default=0)
    ds.add_argument("--timeout", type=float, default=900)
    ds.set_defaults(run=run_daemonset)
    jobs = commands.add_parser("jobs", help="one Job of many completions on hollow nodes")
    jobs.add_argument("--completions", type=int, default=1000)
    jobs.add_argument("--parallelism", type=int, default=100)
    jobs.add_argument("--nodes", type=int, default=50)
    jobs.add_argument("--node-status-update-frequency", type=float, default=10.0)
    jobs.add_argument("--timeout", type=float, default=600)
    jobs.set_defaults(run=run_jobs)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
