"""Soak: a steady churn of pods, status updates, Lease renewals and Events against a real
apiserver and etcd, printing every minute what must level off.

    .venv/bin/python -m bench.soak [--minutes 30] [--pods 200] [--churn 10] [--events 20]
                                   [--compaction-interval 5m] [--event-ttl 10m]

Each second it deletes and recreates `--churn` pods (the population stays at `--pods`), writes
a status for as many, renews `--leases` Leases (kubelets renew theirs every 10 s) and creates
`--events` Events. Every `--report-every` seconds it prints etcd's database size (file and in
use), the apiserver's RSS, the p99 of the requests of that interval, and the compactions and
defragmentations the apiserver logged. With compaction (Kubernetes' default: every 5 minutes)
and Events expiring (`--event-ttl`), the figures level off instead of growing with the run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.store.etcd import EtcdStore
from tests.support.processes import Apiserver, Etcd, rss_mib, temp_dir

NS = "soak"
JSON = {"Content-Type": "application/json"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "soak"}},
        "spec": {
            "containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 80}]}]
        },
    }


def event(name: str, pod_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": NS},
        "reason": "Soak",
        "message": "a steady stream of events",
        "type": "Normal",
        "count": 1,
    }


class Churn:
    def __init__(self, session: aiohttp.ClientSession, args: argparse.Namespace) -> None:
        self.session = session
        self.args = args
        self.latencies: list[float] = []
        self.errors = 0
        self.next_pod = 0
        self.live: list[str] = []
        self.next_event = 0

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        started = time.perf_counter()
        data = orjson.dumps(body) if body is not None else None
        headers = MERGE_PATCH if method == "PATCH" else JSON
        async with self.session.request(method, path, data=data, headers=headers) as response:
            payload = await response.read()
            self.latencies.append(time.perf_counter() - started)
            if response.status >= 400 and response.status != 404:
                self.errors += 1
            return orjson.loads(payload) if payload else None

    async def create_pod(self) -> None:
        name = f"p{self.next_pod}"
        self.next_pod += 1
        await self.call("POST", f"/api/v1/namespaces/{NS}/pods", pod(name))
        self.live.append(name)

    async def second(self) -> None:
        """One second of churn."""
        work = []
        for _ in range(min(self.args.churn, len(self.live))):
            name = self.live.pop(0)
            work.append(self.call("DELETE", f"/api/v1/namespaces/{NS}/pods/{name}"))
            work.append(self.create_pod())
        for name in self.live[: self.args.churn]:
            status = {"status": {"phase": "Running", "podIP": "10.0.0.1"}}
            work.append(self.call("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", status))
        for i in range(self.args.leases):
            lease = {"spec": {"renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")}}
            path = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/node-{i}"
            work.append(self.call("PATCH", path, lease))
        for _ in range(self.args.events):
            name = f"e{self.next_event}"
            self.next_event += 1
            target = self.live[self.next_event % len(self.live)] if self.live else "none"
            work.append(self.call("POST", f"/api/v1/namespaces/{NS}/events", event(name, target)))
        await asyncio.gather(*work)


async def soak(args: argparse.Namespace, etcd: Etcd, apiserver: Apiserver) -> None:
    store = EtcdStore([etcd.url])
    assert apiserver.process is not None and apiserver.process.popen is not None
    pid = apiserver.process.popen.pid
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(apiserver.url, connector=connector) as session:
        churn = Churn(session, args)
        await churn.call("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
        for i in range(args.leases):
            lease = {"metadata": {"name": f"node-{i}"}, "spec": {"holderIdentity": f"node-{i}"}}
            await churn.call("POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", lease)
        await asyncio.gather(*(churn.create_pod() for _ in range(args.pods)))
        print(
            f"soak: {args.pods} pods, churn {args.churn}/s, {args.leases} leases/s, "
            f"{args.events} events/s, compaction every {args.compaction_interval}, "
            f"event TTL {args.event_ttl}, {args.minutes} min",
            flush=True,
        )
        print(
            f"{'min':>5} {'db MiB':>7} {'in use':>7} {'RSS MiB':>8} {'p99 ms':>7} "
            f"{'req/s':>6} {'errors':>6} {'compactions':>11} {'defrags':>7}",
            flush=True,
        )
        started = time.monotonic()
        next_report = started + args.report_every
        while time.monotonic() - started < args.minutes * 60:
            tick = time.monotonic()
            await churn.second()
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            if time.monotonic() >= next_report:
                next_report += args.report_every
                members = await store.member_status()
                log = apiserver.process.log_path.read_text(errors="replace")
                latencies = sorted(churn.latencies)
                p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
                print(
                    f"{(time.monotonic() - started) / 60:5.1f} "
                    f"{members[0].db_size / 2**20:7.1f} {members[0].db_size_in_use / 2**20:7.1f} "
                    f"{rss_mib(pid):8.1f} {p99:7.1f} "
                    f"{len(latencies) / args.report_every:6.0f} {churn.errors:6d} "
                    f"{log.count('compacted etcd to revision'):11d} "
                    f"{log.count('defragmenting etcd'):7d}",
                    flush=True,
                )
                churn.latencies.clear()
        if churn.latencies:
            print(f"median request {statistics.median(churn.latencies) * 1000:.1f} ms")
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--churn", type=int, default=10, help="pods replaced per second")
    parser.add_argument("--leases", type=int, default=10, help="Lease renewals per second")
    parser.add_argument("--events", type=int, default=20, help="Events created per second")
    parser.add_argument("--compaction-interval", default="5m")
    parser.add_argument("--event-ttl", default="10m")
    parser.add_argument("--report-every", type=float, default=60.0, help="seconds")
    args = parser.parse_args()
    work = temp_dir("minik8s-soak-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    apiserver = Apiserver(
        etcd.url,
        work / "apiserver",
        extra_args=[
            f"--etcd-compaction-interval={args.compaction_interval}",
            f"--event-ttl={args.event_ttl}",
        ],
    )
    try:
        apiserver.start()
        asyncio.run(soak(args, etcd, apiserver))
    finally:
        apiserver.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
