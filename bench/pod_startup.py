"""Pod startup latency: raw Docker against minik8s, and hollow nodes at scale.

    .venv/bin/python -m bench.pod_startup [--burst 30] [--fake-pods 100] [--fake-nodes 10]

(a) the physical floor: Docker SDK create+start of a sandbox plus one app container joined to
its network namespace, once alone and `--burst` at once (16 threads, the kubelet's pod
workers); (b) the same through minik8s: one pod, then `--burst` pods created at once through
the API on one real kubelet, create → Running seen by a watch; (c) `--fake-pods` pods on
`--fake-nodes` hollow kubelets. Prints p50/p99, the burst's total time and the ratios.
Needs dockerd and the images (`make images`). Everything created is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from bench.stats import percentile
from minik8s.api.resources import PODS
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support.api import Api
from tests.support.kubelet import Kubelet, remove_containers
from tests.support.processes import Apiserver, Etcd, temp_dir

IMAGE = "minik8s/busybox"
SCRIPT = "trap 'exit 0' TERM; while true; do sleep 1; done"


def line(label: str, values: list[float], total: float | None = None) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    text = f"{label:<44} p50 {p50 * 1000:7.0f} ms  p99 {p99 * 1000:7.0f} ms"
    return text + (f"  burst {total:6.2f} s" if total is not None else "")


# --- (a) raw Docker ---------------------------------------------------------------------------


def raw_pair(client: docker.DockerClient, label: str) -> float:
    api = client.api
    started = time.perf_counter()
    name = uuid.uuid4().hex[:10]
    labels = {"minik8s.node": label}
    sandbox = api.create_container(
        "minik8s/pause",
        name=f"bench-pod-{name}",
        labels=labels,
        detach=True,
        host_config=api.create_host_config(network_mode="minik8s"),
    )
    api.start(sandbox["Id"])
    app = api.create_container(
        IMAGE,
        command=["sh", "-c", SCRIPT],
        name=f"bench-app-{name}",
        labels=labels,
        host_config=api.create_host_config(network_mode=f"container:{sandbox['Id']}"),
    )
    api.start(app["Id"])
    api.inspect_container(sandbox["Id"])
    return time.perf_counter() - started


def raw(burst: int) -> tuple[float, list[float], float]:
    client = docker.from_env(max_pool_size=64)
    label = f"bench-raw-{uuid.uuid4().hex[:6]}"
    try:
        single = min(raw_pair(client, label) for _ in range(3))
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            times = list(pool.map(lambda _: raw_pair(client, label), range(burst)))
        total = time.perf_counter() - started
    finally:
        remove_containers(label)
        client.close()
    return single, times, total


# --- (b) and (c) through minik8s --------------------------------------------------------------


def manifest(name: str, node: str, image: str = IMAGE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", SCRIPT],
                }
            ],
        },
    }


async def start_pods(client: ApiClient, ns: str, pods: list[dict[str, Any]]) -> list[float]:
    """Create `pods` at once; seconds from each create to Running, seen by one watch."""
    listing = await client.list(PODS, ns)
    rv = listing["metadata"]["resourceVersion"]
    created: dict[str, float] = {}
    done: dict[str, float] = {}
    stream = client.watch(PODS, ns, resource_version=rv, timeout_seconds=300)

    async def watch() -> None:
        async with stream:
            async for event in stream:
                obj = event.object
                name = obj["metadata"]["name"]
                if (obj.get("status") or {}).get("phase") == "Running" and name not in done:
                    done[name] = time.perf_counter()
                    if len(done) == len(pods):
                        return

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.05)

    async def create(p: dict[str, Any]) -> None:
        created[p["metadata"]["name"]] = time.perf_counter()
        await client.create(PODS, p, ns)

    await asyncio.gather(*(create(p) for p in pods))
    await asyncio.wait_for(watcher, 300)
    return [done[n] - created[n] for n in created]


async def through_minik8s(
    kubeconfig: Path, api: Api, node: str, burst: int
) -> tuple[float, list[float], float]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        singles = []
        for i in range(3):
            ns = api.namespace()
            singles += await start_pods(client, ns, [manifest(f"single-{i}", node)])
        ns = api.namespace()
        started = time.perf_counter()
        times = await start_pods(client, ns, [manifest(f"burst-{i}", node) for i in range(burst)])
        return min(singles), times, time.perf_counter() - started


async def hollow(
    kubeconfig: Path, api: Api, nodes: list[str], count: int
) -> tuple[list[float], float]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        ns = api.namespace()
        pods = [manifest(f"hollow-{i}", nodes[i % len(nodes)], "anything:1") for i in range(count)]
        started = time.perf_counter()
        times = await start_pods(client, ns, pods)
        return times, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--fake-pods", type=int, default=100)
    parser.add_argument("--fake-nodes", type=int, default=10)
    parser.add_argument(
        "--hollow-only", action="store_true", help="only (c): no Docker, hollow kubelets"
    )
    args = parser.parse_args()

    if not args.hollow_only:
        raw_single, raw_times, raw_total = raw(args.burst)
        print(f"(a) raw Docker SDK, sandbox + app container ({args.burst} burst, 16 threads)")
        print(line("    one pair alone (best of 3)", [raw_single]))
        print(line(f"    {args.burst} pairs at once", raw_times, raw_total))

    work = temp_dir("minik8s-bench-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
    kubelets: list[Kubelet] = []
    try:
        server.start()
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        api = Api(server)
        if not args.hollow_only:
            real = Kubelet(kubeconfig, work / "kubelet", extra_args=["--v", "warning"])
            kubelets.append(real)
            real.start()
            real.wait_ready(api)
            single, times, total = asyncio.run(
                through_minik8s(kubeconfig, api, real.node_name, args.burst)
            )
            print("(b) minik8s: create -> Running seen by watch, one real kubelet")
            print(line("    one pod alone (best of 3)", [single]))
            print(line(f"    {args.burst} pods at once", times, total))
            print(
                f"    single: {single * 1000:.0f} ms vs raw {raw_single * 1000:.0f} ms "
                f"(+{(single - raw_single) * 1000:.0f} ms; target <= +150 ms)"
            )
            print(
                f"    burst: {total:.2f} s vs raw {raw_total:.2f} s "
                f"(x{total / raw_total:.2f}; target <= x1.2)"
            )
            real.stop()
            remove_containers(real.node_name)

        hollow_nodes = []
        for i in range(args.fake_nodes):
            k = Kubelet(
                kubeconfig, work / f"hollow-{i}", runtime="fake", extra_args=["--v", "warning"]
            )
            k.start()
            kubelets.append(k)
            hollow_nodes.append(k.node_name)
        for k in kubelets[-args.fake_nodes :]:
            k.wait_ready(api)
        times, total = asyncio.run(hollow(kubeconfig, api, hollow_nodes, args.fake_pods))
        print(f"(c) {args.fake_pods} pods on {args.fake_nodes} hollow kubelets (fake runtime)")
        print(line(f"    {args.fake_pods} pods at once", times, total))
        print(f"    p99 {percentile(times, 0.99):.2f} s (target <= 1 s)")
        api.close()
    finally:
        for k in kubelets:
            k.stop()
            remove_containers(k.node_name)
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
