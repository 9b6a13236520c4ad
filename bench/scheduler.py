"""Scheduler throughput through the real API (scheduler_perf's SchedulingBasic).

    .venv/bin/python -m bench.scheduler [--nodes 500] [--pods 2000] [--percentage 0]

Starts etcd, the apiserver and the scheduler process on a fresh etcd; creates N Nodes (Ready,
4 cpu / 16 GiB / 110 pods each), waits for the scheduler to lead, then creates M pods with
small requests (100m / 128Mi) from 50 concurrent clients and watches them. Prints pods bound
per second from the first creation to the last binding seen by the watch, the creation rate
alone, and the CPU time the scheduler and the apiserver used for it. With --precreate the
pods exist before the scheduler starts, so the figure is scheduling + binding alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.processes import Apiserver, Etcd, Process, cpu_seconds, free_port, temp_dir
from tests.support.waiting import wait_for

JSON_HEADERS = {"Content-Type": "application/json"}
NAMESPACE = "bench"
CONCURRENCY = 50


def node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "bench"}},
        "spec": {
            "containers": [
                {
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.9",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ]
        },
    }


def session(server: Apiserver, connections: int) -> aiohttp.ClientSession:
    ssl_context = server.verify if isinstance(server.verify, ssl.SSLContext) else False
    return aiohttp.ClientSession(
        server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        connector=aiohttp.TCPConnector(ssl=ssl_context, limit=connections),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=300),
    )


async def post(http: aiohttp.ClientSession, path: str, body: bytes) -> None:
    async with http.post(path, data=body, headers=JSON_HEADERS) as r:
        if r.status != 201:
            raise RuntimeError(f"create failed: {r.status} {await r.text()}")
        await r.read()


async def create_all(http: aiohttp.ClientSession, path: str, bodies: list[bytes]) -> None:
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(bodies):
            i = next_index
            next_index += 1
            await post(http, path, bodies[i])

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def sample_queue(args: argparse.Namespace, bound: dict[str, str]) -> None:
    """With --trace: every second, the scheduler's queue depths and the pods bound so far."""
    if not args.trace:
        return
    async with aiohttp.ClientSession() as http:
        while True:
            await asyncio.sleep(1.0)
            async with http.get(f"http://127.0.0.1:{args.healthz_port}/metrics") as r:
                text = await r.text()
            depths = [
                line.split("queue=")[1].replace('"}', "=").replace(" ", "")
                for line in text.splitlines()
                if line.startswith("scheduler_pending_pods{")
            ]
            print(f"  t+1s: bound {len(bound)}, queue {' '.join(depths)}", flush=True)


async def run(etcd: Etcd, server: Apiserver, scheduler: Process, args: argparse.Namespace) -> None:
    async with session(server, CONCURRENCY + 5) as http:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        await post(http, "/api/v1/namespaces", orjson.dumps(body))
        started = time.perf_counter()
        nodes = [orjson.dumps(node(f"node-{i}")) for i in range(args.nodes)]
        await create_all(http, "/api/v1/nodes", nodes)
        print(f"created {args.nodes} nodes in {time.perf_counter() - started:.1f}s")

        if not args.precreate:
            start_scheduler(server, scheduler)
        api_pid = server.process.popen.pid if server.process and server.process.popen else 0

        async with http.get(f"/api/v1/namespaces/{NAMESPACE}/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        bound: dict[str, str] = {}
        last_bound = 0.0
        all_bound = asyncio.Event()

        async def watch() -> None:
            nonlocal last_bound
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1800"}
            async with http.get(f"/api/v1/namespaces/{NAMESPACE}/pods", params=params) as r:
                async for line in r.content:
                    if b'"nodeName"' not in line:  # not bound yet: skip decoding it
                        continue
                    event = orjson.loads(line)
                    obj = event["object"]
                    node_name = (obj.get("spec") or {}).get("nodeName")
                    name = obj["metadata"]["name"]
                    if node_name and name not in bound:
                        bound[name] = node_name
                        last_bound = time.perf_counter()
                        if len(bound) == args.pods:
                            all_bound.set()
                            return

        watcher = asyncio.create_task(watch(), name="bench watch")
        await asyncio.sleep(0.5)  # let the watch connect
        bodies = [orjson.dumps(pod(f"pod-{i}")) for i in range(args.pods)]
        if args.precreate:  # pods first, then the scheduler finds a full queue
            started = time.perf_counter()
            await create_all(http, f"/api/v1/namespaces/{NAMESPACE}/pods", bodies)
            print(f"created {args.pods} pods in {time.perf_counter() - started:.1f}s")
            start_scheduler(server, scheduler)
        assert scheduler.popen is not None
        spy = None
        if args.profile:
            spy = Process(
                "py-spy",
                [str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                 str(scheduler.popen.pid), "-d", str(args.profile), "-f", "raw",
                 "-o", str(args.profile_out)],
                Path(str(args.profile_out) + ".log"),
            )  # fmt: skip
            spy.start()
            await asyncio.sleep(1)
        etcd_pid = etcd.process.popen.pid if etcd.process and etcd.process.popen else 0
        cpu_before = cpu_seconds(scheduler.popen.pid)
        api_before = cpu_seconds(api_pid) if api_pid else 0.0
        etcd_before = cpu_seconds(etcd_pid) if etcd_pid else 0.0
        bench_before = time.process_time()
        sampler = asyncio.create_task(sample_queue(args, bound), name="bench sampler")
        first_create = time.perf_counter()
        if not args.precreate:
            await create_all(http, f"/api/v1/namespaces/{NAMESPACE}/pods", bodies)
        created = time.perf_counter() - first_create
        try:
            await asyncio.wait_for(all_bound.wait(), args.timeout)
        except TimeoutError:
            print(f"TIMEOUT: {len(bound)}/{args.pods} pods bound after {args.timeout}s")
            watcher.cancel()
            return
        sampler.cancel()
        cpu = cpu_seconds(scheduler.popen.pid) - cpu_before
        etcd_cpu = (cpu_seconds(etcd_pid) - etcd_before) if etcd_pid else 0.0
        bench_cpu = time.process_time() - bench_before
        if spy is not None and spy.popen is not None:
            spy.popen.wait(args.profile + 30)
        api_cpu = (cpu_seconds(api_pid) - api_before) if api_pid else 0.0
        elapsed = last_bound - first_create
        per_node = Counter(bound.values())
        async with http.get(f"http://127.0.0.1:{args.healthz_port}/metrics") as r:
            scraped = await r.text()
        print(
            f"nodes={args.nodes} pods={args.pods} percentage={args.percentage}"
            f"{' (pods created before the scheduler started)' if args.precreate else ''}\n"
            + (
                ""
                if args.precreate
                else f"  created {args.pods} pods in {created:.2f}s ({args.pods / created:.0f}/s)\n"
            )
            + f"  all bound {elapsed:.2f}s after the {'lease' if args.precreate else 'first pod'}"
            f": {args.pods / elapsed:.0f} pods/s\n"
            f"  scheduler CPU {cpu:.2f}s ({cpu / args.pods * 1000:.2f} ms/pod), "
            f"apiserver CPU {api_cpu:.2f}s, etcd CPU {etcd_cpu:.2f}s, "
            f"this load generator's CPU {bench_cpu:.2f}s\n"
            f"  pods per node: min {min(per_node.values()) if len(per_node) == args.nodes else 0}"
            f", max {max(per_node.values())}, nodes used {len(per_node)}/{args.nodes}\n"
            f"  scheduler means: algorithm {mean(scraped, 'scheduler_scheduling_algorithm'):.2f} ms"
            f", binding request {mean(scraped, 'scheduler_binding_duration'):.1f} ms"
            f", queue to bound {mean(scraped, 'scheduler_pod_scheduling_duration'):.0f} ms"
        )


def mean(metrics: str, name: str) -> float:
    """Mean of a histogram in milliseconds, from the Prometheus text."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith(name) and ("_sum " in line or "_count " in line):
            key, value = line.split()
            values["sum" if key.endswith("_sum") else "count"] = float(value)
    return 1000 * values.get("sum", 0.0) / max(values.get("count", 0.0), 1.0)


def start_scheduler(server: Apiserver, scheduler: Process) -> None:
    scheduler.start()
    wait_for(
        lambda: scheduler_leads(server, scheduler),
        "the scheduler to take the lease",
        timeout=120,
    )


def scheduler_leads(server: Apiserver, scheduler: Process) -> bool:
    if not scheduler.alive():
        raise RuntimeError(f"scheduler exited:\n{scheduler.log_tail()}")
    r = httpx.get(
        f"{server.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/minik8s-scheduler",
        headers={"Authorization": f"Bearer {server.token}"},
        verify=server.verify,
        timeout=5,
    )
    return r.status_code == 200 and bool(r.json()["spec"].get("holderIdentity"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--percentage", type=int, default=0, help="percentage of nodes to score")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for binds")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the scheduler N seconds")
    parser.add_argument("--profile-out", type=Path, default=Path("scheduler-profile.txt"))
    parser.add_argument(
        "--precreate",
        action="store_true",
        help="create the pods before starting the scheduler: measures binding alone",
    )
    parser.add_argument("--trace", action="store_true", help="print queue depths every second")
    parser.add_argument("--scheduler-arg", action="append", default=[], help="extra flag")
    args = parser.parse_args()
    args.healthz_port = free_port()

    work = temp_dir("minik8s-bench-scheduler-")
    etcd = Etcd(work / "etcd")
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(8))
    scheduler: Process | None = None
    try:
        etcd.start()
        server.start()
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        scheduler = Process(
            "scheduler",
            [
                sys.executable, "-m", "minik8s.scheduler.server", f"--kubeconfig={kubeconfig}",
                f"--healthz-port={args.healthz_port}",
                f"--percentage-of-nodes-to-score={args.percentage}", *args.scheduler_arg,
            ],
            work / "scheduler.log",
        )  # fmt: skip
        asyncio.run(run(etcd, server, scheduler, args))
    finally:
        if scheduler is not None:
            scheduler.stop()
        server.stop()
        etcd.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
