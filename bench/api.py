"""Apiserver throughput and latency against raw etcd, in one run on a fresh etcd.

    .venv/bin/python -m bench.api [--requests 2000] [--watchers 100]
        [--authorization-mode Node,RBAC [--rbac-user | --client-cert]]
        [--audit-level Metadata]

Prints raw aetcd put/get rates from one process, apiserver create/get rates for pods with the
same payloads at 1, 10 and 50 concurrent clients, the p50/p99 latency of creates at 50
clients, and the p99 delivery latency of a change to 100 watchers; then the ratios, and the CPU
each process spent per operation at 50 clients with the rate that bounds once every core is busy.

`--authorization-mode` runs the apiserver with those authorizers; `--rbac-user` makes the
load generator a user outside `system:masters`, allowed by a ClusterRoleBinding, so every
request takes the whole RBAC path (authentication, request attributes, Node then RBAC);
`--client-cert` makes it authenticate with a client certificate instead of a bearer token.
`--audit-level` audits every request at that level to a log file (a policy of one rule, all
stages), and prints how many events were written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import ssl
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aetcd
import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import percentile
from minik8s import pki
from tests.support.processes import Apiserver, Etcd, cpu_seconds, temp_dir

CONCURRENCY = (1, 10, 50)
JSON_HEADERS = {"Content-Type": "application/json"}


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }
            ]
        },
    }


async def run_concurrently(
    total: int, concurrency: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run `op(i)` for i < total with `concurrency` workers; (seconds, per-op latencies)."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            i = next_index
            next_index += 1
            started = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


class CpuMeter:
    """CPU milliseconds per operation of this process (the client) and of the servers."""

    def __init__(self, **servers: int) -> None:
        self.servers = servers

    def start(self) -> dict[str, float]:
        return {"client": time.process_time()} | {
            name: cpu_seconds(pid) for name, pid in self.servers.items()
        }

    def per_operation(self, before: dict[str, float], operations: int) -> dict[str, float]:
        after = self.start()
        return {name: (after[name] - before[name]) * 1000 / operations for name in before}


async def measured(
    meter: CpuMeter, total: int, concurrency: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float], dict[str, float]]:
    """`run_concurrently`, plus the CPU milliseconds each process spent per operation."""
    before = meter.start()
    seconds, latencies = await run_concurrently(total, concurrency, op)
    return seconds, latencies, meter.per_operation(before, total)


Cpu = dict[str, dict[str, float]]
"""step ("put10", "create50", ...) -> process -> CPU ms per operation."""


async def raw_etcd(etcd: Etcd, total: int, cpu: Cpu) -> dict[str, float]:
    rates: dict[str, float] = {}
    assert etcd.process is not None and etcd.process.popen is not None
    meter = CpuMeter(etcd=etcd.process.popen.pid)
    payload = orjson.dumps(pod("x"))
    async with aetcd.Client(host="127.0.0.1", port=etcd.client_port) as client:
        for c in CONCURRENCY:
            prefix = f"/bench/raw{c}/"

            async def put(i: int, prefix: str = prefix) -> None:
                await client.put(f"{prefix}{i}".encode(), payload)

            async def get(i: int, prefix: str = prefix) -> None:
                await client.get(f"{prefix}{i}".encode())

            seconds, _, cpu[f"put{c}"] = await measured(meter, total, c, put)
            rates[f"put{c}"] = total / seconds
            seconds, _, cpu[f"get{c}"] = await measured(meter, total, c, get)
            rates[f"get{c}"] = total / seconds
    return rates


BENCH_TOKEN = secrets.token_hex(8)
"""The token of the RBAC user (`--rbac-user`); bound to cluster-admin by a binding."""


CLIENT_CERT: list[tuple[str, str]] = []
"""(certificate, key) the load generator shows instead of a token (`--client-cert`)."""


def session(server: Apiserver, connections: int, token: str | None = None) -> aiohttp.ClientSession:
    ssl_context = server.verify if isinstance(server.verify, ssl.SSLContext) else False
    headers = {"Authorization": f"Bearer {token or server.token}"}
    if CLIENT_CERT and token is not None and isinstance(ssl_context, ssl.SSLContext):
        ssl_context = ssl.create_default_context(cafile=str(server.ca_file))
        ssl_context.load_cert_chain(*CLIENT_CERT[0])
        headers = {}
    return aiohttp.ClientSession(
        server.url,
        headers=headers,
        connector=aiohttp.TCPConnector(ssl=ssl_context, limit=connections),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def post(http: aiohttp.ClientSession, path: str, body: bytes) -> None:
    async with http.post(path, data=body, headers=JSON_HEADERS) as r:
        if r.status != 201:
            raise RuntimeError(f"create failed: {r.status} {await r.text()}")
        await r.read()


async def grant_bench_user(server: Apiserver) -> None:
    """Bind the bench user to cluster-admin and wait until the apiserver says so."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "bench"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench"}],
    }
    async with session(server, 1) as admin:
        await post(
            admin, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", orjson.dumps(binding)
        )
    async with session(server, 1, BENCH_TOKEN) as user:
        for _ in range(100):
            async with user.get("/api/v1/namespaces") as r:
                if r.status == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("the bench user was never allowed")


async def apiserver_rates(
    server: Apiserver, etcd: Etcd, total: int, cpu: Cpu, token: str | None = None
) -> tuple[dict[str, float], list[float]]:
    rates: dict[str, float] = {}
    latencies_at_50: list[float] = []
    assert server.process is not None and server.process.popen is not None
    assert etcd.process is not None and etcd.process.popen is not None
    meter = CpuMeter(apiserver=server.process.popen.pid, etcd=etcd.process.popen.pid)
    if token is not None:
        await grant_bench_user(server)
    async with session(server, 100, token) as http:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
        await post(http, "/api/v1/namespaces", orjson.dumps(namespace))
        for c in CONCURRENCY:
            bodies = [orjson.dumps(pod(f"p{c}-{i}")) for i in range(total)]

            async def create(i: int, bodies: list[bytes] = bodies) -> None:
                await post(http, "/api/v1/namespaces/bench/pods", bodies[i])

            async def get(i: int, c: int = c) -> None:
                async with http.get(f"/api/v1/namespaces/bench/pods/p{c}-{i}") as r:
                    if r.status != 200:
                        raise RuntimeError(f"get failed: {r.status} {await r.text()}")
                    await r.read()

            seconds, latencies, cpu[f"api-create{c}"] = await measured(meter, total, c, create)
            rates[f"create{c}"] = total / seconds
            if c == 50:
                latencies_at_50 = latencies
            seconds, _, cpu[f"api-get{c}"] = await measured(meter, total, c, get)
            rates[f"get{c}"] = total / seconds
    return rates, latencies_at_50


async def watch_latency(server: Apiserver, watchers: int, changes: int) -> list[float]:
    delays: list[float] = []
    async with session(server, watchers + 10) as http:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "watch"}}
        await post(http, "/api/v1/namespaces", orjson.dumps(namespace))
        async with http.get("/api/v1/namespaces/watch/configmaps") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        connected = 0
        all_connected = asyncio.Event()

        async def watch() -> None:
            nonlocal connected
            seen = 0
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "120"}
            async with http.get("/api/v1/namespaces/watch/configmaps", params=params) as r:
                connected += 1
                if connected == watchers:
                    all_connected.set()
                async for line in r.content:
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    delays.append(time.time() - float(event["object"]["data"]["sent"]))
                    seen += 1
                    if seen == changes:
                        return

        tasks = [asyncio.create_task(watch(), name=f"watcher-{i}") for i in range(watchers)]
        await asyncio.wait_for(all_connected.wait(), 30)
        for i in range(changes):
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{i}"},
                "data": {"sent": repr(time.time())},
            }
            await post(http, "/api/v1/namespaces/watch/configmaps", orjson.dumps(body))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="operations per step")
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--changes", type=int, default=100, help="changes the watchers see")
    parser.add_argument("--plain-http", action="store_true", help="serve HTTP instead of HTTPS")
    parser.add_argument("--authorization-mode", default="", help="e.g. Node,RBAC")
    parser.add_argument(
        "--rbac-user",
        action="store_true",
        help="load as a user allowed by RBAC, not system:masters",
    )
    parser.add_argument(
        "--client-cert", action="store_true", help="the RBAC user shows a client certificate"
    )
    parser.add_argument(
        "--audit-level",
        default="",
        choices=["", "Metadata", "Request", "RequestResponse"],
        help="audit every request at this level to a log file",
    )
    args = parser.parse_args()
    args.rbac_user = args.rbac_user or args.client_cert

    work = temp_dir("minik8s-bench-")
    etcd = Etcd(work / "etcd")
    extra = [f"--authorization-mode={args.authorization_mode}"] if args.authorization_mode else []
    if args.client_cert:
        ca = pki.ensure_serving_certificate(work / "apiserver" / "pki")
        issued = pki.ensure_client_certificate(
            ca.ca_cert.parent, "bench", (), work / "bench.crt", work / "bench.key"
        )
        CLIENT_CERT.append((str(issued.cert), str(issued.key)))
        extra.append(f"--client-ca-file={ca.ca_cert}")
    audit_log = work / "audit" / "audit.log"
    if args.audit_level:
        policy = work / "audit-policy.yaml"
        policy.write_text(
            f"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: {args.audit_level}\n"
        )
        extra += [f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}"]
    server = Apiserver(
        etcd.url,
        work / "apiserver",
        token=secrets.token_hex(8),
        tls=not args.plain_http,
        extra_args=extra,
        extra_tokens={BENCH_TOKEN: "bench"} if args.rbac_user else {},
    )
    try:
        etcd.start()
        server.start()
        cpu: Cpu = {}
        raw = asyncio.run(raw_etcd(etcd, args.requests, cpu))
        token = BENCH_TOKEN if args.rbac_user else None
        api, latencies = asyncio.run(apiserver_rates(server, etcd, args.requests, cpu, token))
        delays = asyncio.run(watch_latency(server, args.watchers, args.changes))
        server.stop()
        audited = sum(1 for _ in audit_log.open("rb")) if audit_log.exists() else 0
    finally:
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)

    scheme = "HTTP" if args.plain_http else "HTTPS"
    authz = args.authorization_mode or "AlwaysAllow"
    who = "an RBAC user" if args.rbac_user else "system:masters"
    who += " with a client certificate" if args.client_cert else " with a token"
    audit = f"audit {args.audit_level} ({audited} events)" if args.audit_level else "no audit"
    print(
        f"machine: {os.cpu_count()} cores; {args.requests} operations per step; {scheme}; "
        f"authorization {authz}, as {who}; {audit}"
    )
    print(
        f"{'clients':>8} {'etcd put/s':>11} {'api create/s':>13} {'ratio':>6} "
        f"{'etcd get/s':>11} {'api get/s':>10} {'ratio':>6}"
    )
    for c in CONCURRENCY:
        print(
            f"{c:>8} {raw[f'put{c}']:>11.0f} {api[f'create{c}']:>13.0f} "
            f"{api[f'create{c}'] / raw[f'put{c}']:>6.2f} {raw[f'get{c}']:>11.0f} "
            f"{api[f'get{c}']:>10.0f} {api[f'get{c}'] / raw[f'get{c}']:>6.2f}"
        )
    print_cpu(cpu, raw)
    print(
        f"create latency at 50 clients: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms (target p99 <= 50 ms)"
    )
    print(
        f"watch delivery to {args.watchers} watchers ({len(delays)} deliveries): "
        f"p50 {percentile(delays, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(delays, 0.99) * 1000:.1f} ms, "
        f"mean {statistics.mean(delays) * 1000:.1f} ms (target p99 <= 100 ms)"
    )


def print_cpu(cpu: Cpu, raw: dict[str, float]) -> None:
    """CPU per operation, and the best rate the machine allows once every core is busy."""
    cores = os.cpu_count() or 1
    print("CPU ms per operation at 50 clients (client = this process):")
    for raw_step, api_step in (("put50", "create50"), ("get50", "get50")):
        api_cpu = cpu[f"api-{api_step}"]
        ceiling = cores * 1000 / sum(api_cpu.values())
        print(
            f"  etcd {raw_step[:-2]:<4} {_split(cpu[raw_step])}; "
            f"api {api_step[:-2]:<6} {_split(api_cpu)}: with {cores} cores busy at most "
            f"{ceiling:.0f}/s = {ceiling / raw[raw_step]:.2f}x etcd"
        )


def _split(per_process: dict[str, float]) -> str:
    parts = " + ".join(f"{name} {ms:.2f}" for name, ms in per_process.items())
    return f"{parts} = {sum(per_process.values()):.2f}"


if __name__ == "__main__":
    main()
