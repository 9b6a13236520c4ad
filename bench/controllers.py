"""Controller-manager throughput: a Deployment of 1 000 replicas on 50 hollow nodes.

    .venv/bin/python -m bench.controllers [--replicas 1000] [--nodes 50]

Starts etcd, the apiserver and the controller-manager; a hollow "scheduler + kubelets" task
in this process binds every new pod to one of the nodes (round robin) and reports it Running
and Ready at once. Prints the time until the Deployment is fully available, the time of a
rolling update to a new template (25% surge / 25% unavailable), and the controller-manager's
CPU seconds for each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api import errors, times
from minik8s.api.resources import DEPLOYMENTS, NAMESPACES, NODES, PODS
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver, Etcd, cpu_seconds, temp_dir

NS = "bench"


class HollowCluster:
    """Binds and readies every pod of the namespace, like a scheduler and kubelets would."""

    def __init__(self, client: ApiClient, nodes: list[str], concurrency: int = 20) -> None:
        self.client = client
        self.nodes = nodes
        self.next = 0
        self.done: set[str] = set()
        self.sem = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        rv: str | None = None
        while True:
            stream = self.client.watch(PODS, NS, resource_version=rv, timeout_seconds=300)
            try:
                async with stream:
                    async for event in stream:
                        rv = event.resource_version or rv
                        self._seen(event.type, event.object)
            except errors.ApiError as e:  # e.g. 410 Expired: start over from a fresh watch
                print(f"hollow cluster: watch ended ({e.message}); restarting", file=sys.stderr)
                rv = None

    def _seen(self, kind: str, pod: dict[str, Any]) -> None:
        if kind not in ("ADDED", "MODIFIED"):  # BOOKMARKs carry no name
            return
        name = pod["metadata"]["name"]
        if name in self.done:
            return
        if pod["metadata"].get("deletionTimestamp"):
            return
        self.done.add(name)
        task = asyncio.create_task(self._start(name))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _start(self, name: str) -> None:
        async with self.sem:
            node = self.nodes[self.next % len(self.nodes)]
            self.next += 1
            try:
                await self.client.bind(NS, name, node)
                pod = await self.client.get(PODS, name, NS)
                stamp = times.now_rfc3339()
                n = len(self.done)
                pod["status"] = {
                    "phase": "Running",
                    "podIP": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                    "conditions": [{"type": "Ready", "status": "True",
                                    "lastTransitionTime": stamp}],
                }  # fmt: skip
                await self.client.update_status(PODS, pod)
            except errors.ApiError as e:
                if not isinstance(e, errors.NotFound | errors.Conflict):
                    print(f"hollow cluster: {name}: {e.message}", file=sys.stderr)


def deployment(replicas: int, image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


async def wait_complete(client: ApiClient, replicas: int, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        d = await client.get(DEPLOYMENTS, "web", NS)
        s = d.get("status") or {}
        if (
            s.get("observedGeneration") == d["metadata"]["generation"]
            and s.get("updatedReplicas") == replicas
            and s.get("replicas") == replicas
            and s.get("availableReplicas") == replicas
        ):
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise TimeoutError(f"deployment not complete after {timeout}s: {s}")


async def bench(args: argparse.Namespace, kubeconfig: Path, cm: ControllerManager) -> None:
    assert cm.process is not None and cm.process.popen is not None
    pid = cm.process.popen.pid
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        await client.create(NAMESPACES, {"metadata": {"name": NS}})
        nodes = [f"hollow-{i}" for i in range(args.nodes)]
        for name in nodes:
            await client.create(NODES, {"metadata": {"name": name}})
        hollow = HollowCluster(client, nodes)
        watcher = asyncio.create_task(hollow.run())
        try:
            cpu0 = cpu_seconds(pid)
            await client.create(DEPLOYMENTS, deployment(args.replicas, "nginx:1"), NS)
            up = await wait_complete(client, args.replicas, args.timeout)
            cpu1 = cpu_seconds(pid)
            print(f"{args.replicas} replicas on {args.nodes} nodes available in {up:.1f}s "
                  f"(controller-manager CPU {cpu1 - cpu0:.1f}s)")  # fmt: skip
            patch = {"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2"}]}}}}  # fmt: skip
            await client.patch(DEPLOYMENTS, "web", patch, namespace=NS, patch_type="strategic")
            await asyncio.sleep(0.5)
            roll = await wait_complete(client, args.replicas, args.timeout)
            cpu2 = cpu_seconds(pid)
            print(f"rolling update of {args.replicas} replicas done in {roll + 0.5:.1f}s "
                  f"(controller-manager CPU {cpu2 - cpu1:.1f}s)")  # fmt: skip
        finally:
            watcher.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    work = temp_dir("minik8s-bench-controllers-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    apiserver = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
    cm: ControllerManager | None = None
    try:
        apiserver.start()
        kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
        cm = ControllerManager(kubeconfig, work / "controller-manager.log",
                               extra_args=["--leader-elect=false", "--v=info",
                                           "--controllers=*,-nodelifecycle"])  # fmt: skip
        cm.start()
        asyncio.run(bench(args, kubeconfig, cm))
    finally:
        if cm is not None:
            cm.stop()
        apiserver.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
