"""Workload controllers at scale, one subcommand per workload.

    .venv/bin/python -m bench.workloads daemonset [--nodes 100] [--max-unavailable 1]
                                                   [--max-surge 0]

`daemonset`: starts etcd, the apiserver, the scheduler, the controller-manager and `--nodes`
hollow kubelets (real kubelet processes with `--runtime fake`: the same pod workers and status
manager, containers in memory). Creates a DaemonSet, waits until every node runs an available
daemon pod, then changes its image and measures the RollingUpdate until every node runs an
updated, available pod (kubectl's `rollout status` condition). Prints both times and the CPU
seconds of the controller-manager, the scheduler and the apiserver in each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api.resources import DAEMONSETS, NAMESPACES
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support.api import Api
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
                "minik8s.cmd.scheduler",
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
        api = Api(apiserver)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: k.wait_ready(api), kubelets))
        api.close()
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


def _int_or_percent(text: str) -> int | str:
    return text if text.endswith("%") else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="workload", required=True)
    ds = commands.add_parser("daemonset", help="a DaemonSet rolled over hollow nodes")
    ds.add_argument("--nodes", type=int, default=100)
    ds.add_argument("--max-unavailable", type=_int_or_percent, default=1)
    ds.add_argument("--max-surge", type=_int_or_percent, default=0)
    ds.add_argument("--timeout", type=float, default=900)
    ds.set_defaults(run=run_daemonset)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
