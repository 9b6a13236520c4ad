"""LoadBalancer Services: a burst answering on their external IPs, and kube-proxy's first full
sync with many of them.

    ip netns add mklb && ip netns exec mklb ip link set lo up
    ip netns exec mklb .venv/bin/python -m bench.loadbalancer [--burst 100] [--lb 1000]
                                                             [--clusterip 4000] [--endpoints 5]
    ip netns del mklb

Needs root, iptables and iproute2; it changes routes and iptables, so run it in a network
namespace of its own as above (everything it starts listens on that namespace's 127.0.0.1).

1. Burst: a real etcd, apiserver, kube-proxy (default sync periods) and cloud controller manager
   (local provider, pool 203.0.113.0/24 on a bridge of its own) and one HTTP backend in a
   network namespace; the EndpointSlices exist first, then `--burst` LoadBalancer Services are
   created at once. For each: the time from its create request to its address in
   `status.loadBalancer`, and to the first HTTP answer on that address; p50, p99 and max
   (the issue's target: p99 <= 2 s to answer).
2. Sync: `--lb` LoadBalancer Services (addresses of 198.18.0.0/15, RFC 2544's benchmarking range,
   written into their status; no traffic is sent) beside `--clusterip` ClusterIP Services,
   `--endpoints` endpoints each; a fresh kube-proxy's first full sync (target <= 2 s, as for
   5 000 ClusterIP Services in bench.proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.proxy import endpoint_ip, force_cleanup, metric, ready
from bench.stats import percentile
from minik8s.api import resources
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support import netns, slices
from tests.support.processes import Apiserver, Etcd, Process, free_port, temp_dir
from tests.support.waiting import wait_for

NS = "default"
BACKEND_PORT = 8080
SYNC_POOL = ipaddress.ip_network("198.18.0.0/15")


def summary(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):.3f}s, p99 {percentile(values, 0.99):.3f}s, "
            f"max {max(values):.3f}s")  # fmt: skip


def proxy_process(work: Path, kubeconfig: Path, port: int) -> Process:
    return Process("proxy", [
        sys.executable, "-m", "minik8s.proxy.server", f"--kubeconfig={kubeconfig}",
        "--node-name=bench", f"--healthz-port={port}", f"--state-file={work / 'proxy-state.json'}",
        f"--lock-file={work / 'proxy.lock'}"], work / "proxy.log")  # fmt: skip


def lb_service(name: str, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": ports, **spec}}  # fmt: skip


def endpoints(name: str, ips: list[str]) -> dict[str, Any]:
    """The Service's EndpointSlice, its endpoints on this (the bench's) node."""
    ports = [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}]
    return slices.endpoint_slice(name, [slices.endpoint(ip, "bench") for ip in ips],
                                 namespace=NS, ports=ports)  # fmt: skip


async def gather_limited(coros: list[Any], limit: int = 50) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def answers(ip: str) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, 80), 0.3)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 1.0)
        return b" 200 " in line
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def burst(client: ApiClient, count: int) -> tuple[list[float], list[float]]:
    names = [f"lb-{i}" for i in range(count)]
    backend = ["10.244.251.2"]
    await gather_limited([client.create(resources.ENDPOINTSLICES, endpoints(n, backend), NS)
                          for n in names])  # fmt: skip
    await asyncio.sleep(2.0)  # the proxy has the slices: the burst measures the Services
    created: dict[str, float] = {}
    to_address: dict[str, float] = {}
    to_answer: dict[str, float] = {}
    probing: set[asyncio.Task[None]] = set()

    async def create(name: str) -> None:
        created[name] = time.perf_counter()
        await client.create(resources.SERVICES, lb_service(name), NS)

    async def probe(name: str, ip: str) -> None:
        for _ in range(6000):  # 20 ms apart: two minutes at most
            if await answers(ip):
                to_answer[name] = time.perf_counter() - created[name]
                return
            await asyncio.sleep(0.02)

    creating = asyncio.ensure_future(asyncio.gather(*(create(n) for n in names)))
    deadline = time.perf_counter() + 120
    while len(to_answer) < count and time.perf_counter() < deadline:
        listing = await client.list(resources.SERVICES, NS)
        for svc in listing["items"]:
            name = svc["metadata"]["name"]
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            if name in created and ingress and name not in to_address:
                to_address[name] = time.perf_counter() - created[name]
                probing.add(asyncio.ensure_future(probe(name, ingress[0]["ip"])))
        await asyncio.sleep(0.05)
    await creating
    for task in probing:
        task.cancel()
    if len(to_answer) < count:
        raise RuntimeError(f"only {len(to_answer)} of {count} answered within 120 s")
    return list(to_address.values()), list(to_answer.values())


async def run_burst(args: argparse.Namespace, work: Path, kubeconfig: Path) -> None:
    backend = netns.create("mk8s-lbbench", "10.244.251", 0)
    port = free_port()
    proxy = proxy_process(work, kubeconfig, port)
    ccm = Process("ccm", [sys.executable, "-m", "minik8s.cloudcontroller.server",
                          f"--kubeconfig={kubeconfig}", "--cloud-provider=local",
                          "--controllers=service", "--load-balancer-bridge=mk8s-lb-bench",
                          f"--lock-file={work / 'ccm.lock'}", "--healthz-port=0",
                          *([f"--concurrent-service-syncs={args.service_syncs}"]
                            if args.service_syncs else [])],
                  work / "ccm.log")  # fmt: skip
    try:
        netns.serve(backend, "backend", BACKEND_PORT)
        proxy.start()
        wait_for(lambda: ready(port, proxy), "the proxy's first sync", 60, 0.1)
        ccm.start()
        async with ApiClient(load_kubeconfig(kubeconfig)) as client:
            addresses, answered = await burst(client, args.burst)
        print(f"burst of {args.burst} LoadBalancer Services created at once:")
        print(f"  create -> status.loadBalancer address: {summary(addresses)}")
        print(f"  create -> answers on its address:      {summary(answered)}")
    finally:
        ccm.stop()
        proxy.stop(timeout=120)
        force_cleanup(work)
        cleanup = [sys.executable, "-m", "minik8s.cloudcontroller.server",
                   "--load-balancer-bridge=mk8s-lb-bench", "--cleanup",
                   f"--lock-file={work / 'ccm.lock'}"]  # fmt: skip
        await asyncio.to_thread(subprocess.run, cleanup, capture_output=True)
        netns.delete([backend])


async def run_sync(args: argparse.Namespace, work: Path, kubeconfig: Path) -> None:
    hosts = SYNC_POOL.hosts()
    lbs = [f"lbs-{i}" for i in range(args.lb)]
    ips = {name: str(next(hosts)) for name in lbs}
    cluster_ips = [f"cip-{i}" for i in range(args.clusterip)]

    def eps(i: int, name: str) -> dict[str, Any]:
        return endpoints(name, [endpoint_ip(i, j) for j in range(args.endpoints)])

    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        started = time.perf_counter()
        ports = [{"name": "http", "port": 80, "targetPort": BACKEND_PORT}]
        plain = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": ports}}
        await gather_limited(
            [client.create(resources.SERVICES, {**plain, "metadata": {"name": n}}, NS)
             for n in cluster_ips]
            + [client.create(resources.SERVICES, lb_service(n), NS) for n in lbs]
            + [client.create(resources.ENDPOINTSLICES, eps(i, n), NS)
               for i, n in enumerate(cluster_ips + lbs)]
        )  # fmt: skip
        status = {n: {"status": {"loadBalancer": {"ingress": [{"ip": ips[n]}]}}} for n in lbs}
        await gather_limited([client.patch(resources.SERVICES, n, status[n], namespace=NS,
                                           subresource="status") for n in lbs])  # fmt: skip
        took = time.perf_counter() - started
        print(f"created {args.lb} LoadBalancer + {args.clusterip} ClusterIP Services with "
              f"{args.endpoints} endpoints each in {took:.1f}s")  # fmt: skip
    port = free_port()
    proxy = proxy_process(work, kubeconfig, port)
    try:
        started = time.perf_counter()
        proxy.start()
        wait_for(lambda: ready(port, proxy), "the first sync", 600, 0.1)
        to_ready = time.perf_counter() - started
        first = metric(port, "kubeproxy_sync_proxy_rules_duration_seconds_sum")
        print(f"first full sync: {first:.2f}s in the proxy (render + plan + apply); "
              f"{to_ready:.2f}s from process start to /readyz (lists included)")  # fmt: skip
        for line in (work / "proxy.log").read_text().splitlines():
            if "full sync:" in line:
                print("  " + line.split("full sync: ", 1)[1])
                break
        started = time.perf_counter()
        code = proxy.stop(timeout=120)
        print(f"SIGTERM -> all rules removed, exit {code}: {time.perf_counter() - started:.1f}s")
    finally:
        if proxy.alive():
            proxy.stop()
        force_cleanup(work)


async def bench(args: argparse.Namespace) -> None:
    for part in ("burst", "sync"):
        wanted = args.burst if part == "burst" else args.lb + args.clusterip
        if not wanted:
            continue
        work = temp_dir(f"minik8s-bench-lb-{part}-")
        etcd = Etcd(work / "etcd")
        etcd.start()
        apiserver = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
        try:
            apiserver.start()
            kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
            runner = run_burst if part == "burst" else run_sync
            await runner(args, work, kubeconfig)
        finally:
            apiserver.stop()
            etcd.stop()
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=100, help="LoadBalancer Services at once")
    parser.add_argument("--lb", type=int, default=1000, help="LoadBalancer Services (sync)")
    parser.add_argument("--clusterip", type=int, default=4000, help="ClusterIP Services (sync)")
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument(
        "--service-syncs", type=int, default=0,
        help="the cloud controller's --concurrent-service-syncs (default: its own, 8)",
    )  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("iptables-restore"):
        sys.exit("bench.loadbalancer needs root and iptables")
    if args.burst > 250:
        sys.exit("--burst: the pool 203.0.113.0/24 has 254 addresses")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
