"""The apiserver's CPU per write on a Job pod's life, against a real etcd, without the rest.

    .venv/bin/python -m bench.podwrites [--pods 1000] [--concurrency 20] [--watchers 50]
                                        [--rounds 3] [--profile FILE]

Starts etcd and the apiserver (HTTPS, token, as `bench.workloads` does) and `--watchers` pod
watches filtered by `spec.nodeName` (the hollow kubelets') plus two unfiltered ones (the
scheduler's and the controller-manager's informers). Then each pod goes through the writes
`bench.workloads jobs` measured per completion: create (with the Job's ownerReference, labels
and tracking finalizer), `pods/binding`, a `pods/status` PUT of the kubelet's final status,
the Job controller's JSON patch removing the finalizer, and two Events. Prints, per round, the
apiserver's CPU milliseconds per write and per pod, and the writes per second.

`--profile FILE`: records the apiserver with py-spy (`-f raw`) during the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api import times
from tests.support.processes import Apiserver, Etcd, cpu_seconds, temp_dir

NS = "bench"
JSON = {"Content-Type": "application/json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_UID = str(uuid.uuid4())
WRITES_PER_POD = 6


def job_pod(name: str) -> dict[str, Any]:
    labels = {
        "batch.kubernetes.io/controller-uid": JOB_UID,
        "batch.kubernetes.io/job-name": "burst",
        "controller-uid": JOB_UID,
        "job-name": "burst",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": labels,
            "finalizers": [FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "burst",
                    "uid": JOB_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "work", "image": "hollow:1", "command": ["true"]}],
        },
    }


def final_status(pod: dict[str, Any], node: str) -> dict[str, Any]:
    now = times.now_rfc3339()

    def condition(kind: str, status: str, reason: str | None = None) -> dict[str, Any]:
        c = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
        return c | ({"reason": reason} if reason else {})

    return {
        "phase": "Succeeded",
        "conditions": [
            condition("PodReadyToStartContainers", "False"),
            condition("Initialized", "True", "PodCompleted"),
            condition("Ready", "False", "PodCompleted"),
            condition("ContainersReady", "False", "PodCompleted"),
            condition("PodScheduled", "True"),
        ],
        "hostIP": "10.0.0.1",
        "hostIPs": [{"ip": "10.0.0.1"}],
        "podIP": "10.244.1.5",
        "podIPs": [{"ip": "10.244.1.5"}],
        "startTime": now,
        "qosClass": "BestEffort",
        "containerStatuses": [
            {
                "name": "work",
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": now,
                        "finishedAt": now,
                        "containerID": f"fake://{uuid.uuid4().hex}",
                    }
                },
                "lastState": {},
                "ready": False,
                "restartCount": 0,
                "image": "hollow:1",
                "imageID": "fake://sha256:0",
                "containerID": f"fake://{uuid.uuid4().hex}",
                "started": False,
            }
        ],
    }


def event(pod: str, reason: str, message: str) -> dict[str, Any]:
    now = times.now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{uuid.uuid4().hex[:16]}", "namespace": NS},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": pod, "apiVersion": "v1"},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "hollow-0"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": "Normal",
        "reportingComponent": "kubelet",
        "reportingInstance": "hollow-0",
    }


async def expect(response: aiohttp.ClientResponse, *codes: int) -> Any:
    body = await response.read()
    if response.status not in codes:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {body[:300]!r}")
    return orjson.loads(body)


async def pod_life(http: aiohttp.ClientSession, name: str, node: str) -> None:
    base = f"/api/v1/namespaces/{NS}/pods"
    async with http.post(base, data=orjson.dumps(job_pod(name)), headers=JSON) as r:
        await expect(r, 201)
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": NS},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    async with http.post(f"{base}/{name}/binding", data=orjson.dumps(binding), headers=JSON) as r:
        await expect(r, 201)
    async with http.get(f"{base}/{name}") as r:  # the kubelet's informer copy (a cache read)
        pod = await expect(r, 200)
    body = {**pod, "status": final_status(pod, node)}
    del body["metadata"]["resourceVersion"]
    async with http.put(f"{base}/{name}/status", data=orjson.dumps(body), headers=JSON) as r:
        written = await expect(r, 200)
    ops = [
        {"op": "test", "path": "/metadata/uid", "value": written["metadata"]["uid"]},
        {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    async with http.patch(f"{base}/{name}", data=orjson.dumps(ops), headers=JSON_PATCH) as r:
        await expect(r, 200)
    for reason in ("Pulled", "Started"):
        body = event(name, reason, f"{reason} container work")
        async with http.post(
            f"/api/v1/namespaces/{NS}/events", data=orjson.dumps(body), headers=JSON
        ) as r:
            await expect(r, 201)


async def watch(http: aiohttp.ClientSession, query: str, seen: list[int]) -> None:
    async with http.get(f"/api/v1/pods?watch=1&{query}", timeout=aiohttp.ClientTimeout()) as r:
        async for _ in r.content:
            seen[0] += 1


def start_profiler(pid: int, output: str) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [py_spy, "record", "-r", "200", "-f", "raw", "-p", str(pid), "-o", output, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(args: argparse.Namespace, server: Apiserver) -> None:
    assert server.process is not None and server.process.popen is not None
    pid = server.process.popen.pid
    ssl_context = server.verify if isinstance(server.verify, ssl.SSLContext) else False
    headers = {"Authorization": f"Bearer {server.token}"}
    connector = aiohttp.TCPConnector(ssl=ssl_context, limit=args.concurrency + args.watchers + 4)
    async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as http:
        body = orjson.dumps({"metadata": {"name": NS}})
        async with http.post("/api/v1/namespaces", data=body, headers=JSON) as r:
            await expect(r, 201)
        seen = [0]
        queries = [f"fieldSelector=spec.nodeName%3Dhollow-{i}" for i in range(args.watchers)]
        watchers = [asyncio.create_task(watch(http, q, seen)) for q in [*queries, "", ""]]
        await asyncio.sleep(1)
        profiler = start_profiler(pid, args.profile) if args.profile else None
        if profiler is not None:
            await asyncio.sleep(1)
        for round_ in range(args.rounds):
            names = [f"r{round_}-{i}" for i in range(args.pods)]
            queue = list(reversed(names))

            async def worker(queue: list[str] = queue) -> None:
                while queue:
                    i = len(queue)
                    await pod_life(http, queue.pop(), f"hollow-{i % max(1, args.watchers)}")

            cpu0, started = cpu_seconds(pid), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            cpu1, elapsed = cpu_seconds(pid), time.perf_counter() - started
            writes = args.pods * WRITES_PER_POD
            print(
                f"round {round_ + 1}: {args.pods} pods, {writes} writes in {elapsed:.1f}s "
                f"({writes / elapsed:.0f} writes/s); apiserver CPU {cpu1 - cpu0:.2f}s = "
                f"{1000 * (cpu1 - cpu0) / writes:.2f} ms per write, "
                f"{1000 * (cpu1 - cpu0) / args.pods:.1f} ms per pod",
                flush=True,
            )
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    load = os.getloadavg()
    print(f"watch events delivered: {seen[0]}; load average {load[0]:.2f} {load[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000, help="pods per round")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--watchers", type=int, default=50, help="per-node pod watches")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="py-spy raw output file")
    args = parser.parse_args()
    work = temp_dir("minik8s-bench-podwrites-")
    etcd = Etcd(work / "etcd")
    server = Apiserver(etcd.url, work / "apiserver", token=uuid.uuid4().hex)
    try:
        etcd.start()
        server.start()
        asyncio.run(run(args, server))
    finally:
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
