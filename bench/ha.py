"""A replicated control plane on this machine: writes/s through one vs three apiservers, and
failover times.

    .venv/bin/python -m bench.ha [--requests 1500] [--kills 10] [--default-election]

Starts one etcd, three HTTPS apiservers (one CA, as the launcher gives them) and HAProxy in front
of them with the launcher's configuration (`minik8s/cli/launcher/loadbalancer.py`), then:

1. ConfigMap creates at 20 concurrent clients straight to one apiserver, then through HAProxy
   to three: rate, and the CPU every process (apiservers, HAProxy, etcd) spent per request.
2. Apiserver failover: a writer creates a ConfigMap every 10 ms through HAProxy; each apiserver
   in turn is SIGKILLed. Failover time = kill -> the first success of a write sent after it;
   also the writes that failed per kill. The victim is restarted and UP before the next kill.
3. Scheduler and controller-manager failover: two of each (leader-elected, minik8s' settings
   4s/3s/0.5s; `--default-election`: Kubernetes' 15s/10s/2s); the leader is SIGKILLed;
   failover time = kill -> the other holds the Lease. The victim comes back as the standby.

p50/p99 over `--kills` kills each. Not measured: an etcd member's death (one etcd member here:
minik8s' apiserver uses the first `--etcd-servers` endpoint until failover across endpoints
lands).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import ssl
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import percentile
from minik8s import pki
from minik8s.cli.launcher import loadbalancer
from minik8s.client.kubeconfig import kubeconfig_document
from tests.support.processes import Apiserver, Etcd, Process, cpu_seconds, free_port, temp_dir

TOKEN = "bench-ha-admin"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
MINIK8S_ELECTION = ("4s", "3s", "500ms")
KUBERNETES_ELECTION = ("15s", "10s", "2s")
LEASES = {"scheduler": "minik8s-scheduler", "controller-manager": "minik8s-controller-manager"}
MODULES = {
    "scheduler": "minik8s.scheduler.server",
    "controller-manager": "minik8s.controllers.server",
}


def show(label: str, seconds: list[float]) -> None:
    print(
        f"  {label:<22} p50 {percentile(seconds, 0.5) * 1000:7.0f} ms   "
        f"p99 {percentile(seconds, 0.99) * 1000:7.0f} ms   (n={len(seconds)})"
    )


def wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


class ControlPlane:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.etcd = Etcd(work / "etcd")
        self.ca = pki.ensure_serving_certificate(work / "pki").ca_cert
        self.servers = []
        for i in range(3):
            shutil.copytree(work / "pki", work / f"apiserver-{i}" / "pki")
            self.servers.append(
                Apiserver(
                    self.etcd.url,
                    work / f"apiserver-{i}",
                    token=TOKEN,
                    extra_args=["--authorization-mode=RBAC", "--advertise-address=192.0.2.10"],
                )
            )
        self.lb_port = free_port()
        self.stats = work / "haproxy.sock"
        config = work / "haproxy.cfg"
        config.write_text(
            loadbalancer.render(
                loadbalancer.Settings(
                    bind=("127.0.0.1", self.lb_port),
                    servers=[
                        (f"apiserver-{i}", "127.0.0.1", s.port) for i, s in enumerate(self.servers)
                    ],
                    ca_file=self.ca,
                    stats_socket=self.stats,
                )
            )
        )
        self.haproxy = Process("haproxy", [HAPROXY, "-db", "-f", str(config)], work / "haproxy.log")
        self.verify = ssl.create_default_context(cafile=str(self.ca))

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.lb_port}"

    def start(self) -> None:
        self.etcd.start()
        for server in self.servers:
            server.start()
        self.haproxy.start()
        self.wait_all_up()

    def states(self) -> dict[str, str]:
        return {s.name: s.status for s in loadbalancer.query_stats(self.stats) or []}

    def wait_all_up(self) -> None:
        wanted = {f"apiserver-{i}": "UP" for i in range(3)}
        wait(lambda: self.states() == wanted, "HAProxy to see every apiserver UP")

    def stop(self) -> None:
        self.haproxy.stop()
        for server in self.servers:
            server.stop()
        self.etcd.stop()

    def pids(self) -> list[int]:
        processes = [s.process for s in self.servers] + [self.haproxy, self.etcd.process]
        return [p.popen.pid for p in processes if p is not None and p.popen is not None]

    def kubeconfig(self) -> Path:
        path = self.work / "admin.conf"
        path.write_text(
            json.dumps(
                kubeconfig_document(self.url, None, "admin", {"token": TOKEN}, ca_file=str(self.ca))
            )
        )
        path.chmod(0o600)
        return path

    def client(self, base: str, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base,
            verify=self.verify,
            headers={"Authorization": f"Bearer {TOKEN}"},
            **kwargs,
        )


def configmap(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": "v" * 64},
    }


async def create_many(plane: ControlPlane, base: str, prefix: str, total: int) -> float:
    names = iter(range(total))
    async with plane.client(base, timeout=30, limits=httpx.Limits(max_connections=20)) as client:

        async def worker() -> None:
            for i in names:
                r = await client.post(
                    "/api/v1/namespaces/default/configmaps", json=configmap(f"{prefix}-{i}")
                )
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(20)))
        return time.perf_counter() - started


def throughput(plane: ControlPlane, requests: int) -> None:
    print(f"ConfigMap creates, 20 concurrent clients, {requests} each way")
    for label, base, prefix in (
        ("1 apiserver (direct)", plane.servers[0].url, "one"),
        ("3 apiservers (HAProxy)", plane.url, "three"),
    ):
        pids = plane.pids()
        before = sum(cpu_seconds(p) for p in pids)
        elapsed = asyncio.run(create_many(plane, base, prefix, requests))
        cpu = sum(cpu_seconds(p) for p in pids) - before
        print(
            f"  {label:<22} {requests / elapsed:7.0f} writes/s   "
            f"CPU {cpu / requests * 1000:5.2f} ms/request (all processes)"
        )


async def apiserver_failover(plane: ControlPlane, kills: int) -> tuple[list[float], list[int]]:
    times: list[float] = []
    failures: list[int] = []
    sequence = iter(range(10**9))
    async with plane.client(plane.url, timeout=5) as client:
        for k in range(kills):
            victim = plane.servers[k % 3]
            failed = 0
            killed_at: float | None = None
            recovered: float | None = None
            while recovered is None:
                if killed_at is None and victim.process is not None:
                    await asyncio.sleep(0.2)
                    assert victim.process.popen is not None
                    victim.process.popen.send_signal(signal.SIGKILL)
                    killed_at = time.perf_counter()
                sent = time.perf_counter()
                try:
                    r = await client.post(
                        "/api/v1/namespaces/default/configmaps",
                        json=configmap(f"w-{next(sequence)}"),
                    )
                    ok = r.status_code == 201
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    failed += 1
                elif killed_at is not None and sent >= killed_at:
                    recovered = time.perf_counter()
                await asyncio.sleep(0.01)
            assert killed_at is not None
            times.append(recovered - killed_at)
            failures.append(failed)
            victim.stop()
            victim.start()
            plane.wait_all_up()
    return times, failures


def holder(plane: ControlPlane, lease: str) -> str:
    r = httpx.get(
        f"{plane.url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        verify=plane.verify,
        timeout=5,
    )
    return str(r.json().get("spec", {}).get("holderIdentity") or "") if r.status_code == 200 else ""


def component_failover(
    plane: ControlPlane, component: str, kills: int, election: tuple[str, ...]
) -> list[float]:
    kubeconfig = plane.kubeconfig()
    lease = LEASES[component]

    def new(i: int) -> Process:
        duration, deadline, retry = election
        extra = (
            ["--controllers=namespace,serviceaccount"] if component == "controller-manager" else []
        )
        return Process(
            f"{component}-{i}",
            [
                sys.executable, "-m", MODULES[component], f"--kubeconfig={kubeconfig}",
                "--healthz-port=0", f"--leader-elect-lease-duration={duration}",
                f"--leader-elect-renew-deadline={deadline}", f"--leader-elect-retry-period={retry}",
                *extra,
            ],
            plane.work / f"{component}-{i}.log",
        )  # fmt: skip

    def identity(i: int) -> str:
        text = (plane.work / f"{component}-{i}.log").read_text(errors="replace")
        found = [
            line.rsplit(" as ", 1)[1].strip()
            for line in text.splitlines()
            if "campaigning for lease" in line
        ]
        return found[-1] if found else ""

    replicas = [new(0), new(1)]
    times: list[float] = []
    try:
        for replica in replicas:
            replica.start()
        wait(lambda: all(identity(i) for i in range(2)), f"both {component}s to campaign")
        for _ in range(kills):
            wait(
                lambda: holder(plane, lease) in {identity(0), identity(1)}, f"a {component} to lead"
            )
            leader = 0 if holder(plane, lease) == identity(0) else 1
            standby = identity(1 - leader)
            assert replicas[leader].popen is not None
            replicas[leader].popen.send_signal(signal.SIGKILL)
            killed_at = time.perf_counter()
            wait(
                lambda standby=standby: holder(plane, lease) == standby,
                f"the standby {component} to take over",
            )
            times.append(time.perf_counter() - killed_at)
            replicas[leader].stop()
            (plane.work / f"{component}-{leader}.log").unlink()
            replicas[leader] = new(leader)
            replicas[leader].start()
            wait(
                lambda leader=leader: bool(identity(leader)),
                f"the restarted {component} to campaign",
            )
    finally:
        for replica in replicas:
            replica.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--default-election", action="store_true", help="Kubernetes' 15s/10s/2s")
    args = parser.parse_args()
    if not Path(HAPROXY).exists():
        raise SystemExit("haproxy is not installed (deploy/setup-system.sh installs it)")
    work = temp_dir("minik8s-bench-ha-")
    plane = ControlPlane(work)
    try:
        plane.start()
        throughput(plane, args.requests)
        times, failures = asyncio.run(apiserver_failover(plane, args.kills))
        print(f"Failover, kill -> next successful write through HAProxy, {args.kills} kills each")
        show("apiserver", times)
        mean = statistics.mean(failures)
        print(f"  {'':<22} failed writes per kill: max {max(failures)}, mean {mean:.1f}")
        election = KUBERNETES_ELECTION if args.default_election else MINIK8S_ELECTION
        print(f"Failover, kill -> the standby holds the Lease (election {'/'.join(election)})")
        for component in ("scheduler", "controller-manager"):
            show(component, component_failover(plane, component, args.kills, election))
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
