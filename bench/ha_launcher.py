"""Failover on the layout users run: `minik8s up --control-plane 3` (three etcd members with peer
TLS, three apiservers behind HAProxy, two leader-elected schedulers, controller-managers and
cloud controllers, launcher settings 4s/3s/0.5s).

    flock /tmp/minik8s-e2e.lock .venv/bin/python -m bench.ha_launcher [--kills 5] [--requests 1500]

Starts its own cluster (a home of its own, free ports, `--nodes 0`: no containers), then:

ConfigMap creates from 20 concurrent clients (the admin's client certificate), straight to one
apiserver and through HAProxy to the three, alternated `--rounds` times: writes/s and the CPU
the control plane's processes (etcd members, apiservers, HAProxy) spent per request, in all and
above their idle rate (measured first for 5 s: Lease renewals, health checks, etcd heartbeats).

Then, `--kills` times per victim:

- an apiserver (apiserver-1, -2, -3 in turn) and the etcd leader: a ConfigMap create is started
  every 10 ms through HAProxy as the admin (each on its own: one stuck write holds up no
  other); failover time = SIGKILL -> the first success of a write sent after it; also the
  writes that failed per kill;
- the scheduler, controller-manager and cloud-controller-manager leaders: SIGKILL -> the other
  replica holds the Lease.

After each kill the supervisor (or `minik8s up`: it starts what is not running) starts the
victim again; the next kill waits until every member is back. p50/p99 per victim. Runs under
the shared lock: `minik8s up` writes iptables rules (kube-proxy) and a bridge (the cloud
controller).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ha import show, wait
from minik8s.cli.launcher import controlplane, loadbalancer
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.cli.launcher.state import ClusterState, load
from tests.support.launcher import Launcher, alive, make_launcher
from tests.support.processes import cpu_seconds

IDLE_SECONDS = 5.0
"""How long the control plane's idle CPU is measured before the write runs."""
LEADER_ELECTED = ("scheduler", "controller-manager", "cloud-controller-manager")


class Cluster:
    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.settings = LauncherSettings(home=launcher.home)
        loaded = load(self.settings.state_file)
        assert loaded is not None
        self.state: ClusterState = loaded
        pki = launcher.home / "pki"
        self.verify = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.verify.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def up(self) -> None:
        self.launcher.up()
        self.wait_whole()

    def wait_whole(self) -> None:
        def whole() -> bool:
            servers = loadbalancer.query_stats(self.settings.loadbalancer_socket) or []
            etcd = [
                controlplane.etcd_is_leader(self.settings, self.state.etcd_client_url(m))
                for m in (1, 2, 3)
            ]
            return (
                len(servers) == 3
                and all(s.status == "UP" for s in servers)
                and None not in etcd
                and etcd.count(True) == 1
            )

        wait(whole, "every apiserver UP in HAProxy and three etcd members with one leader")

    def kill(self, name: str) -> float:
        pid = self.launcher.pids()[name]
        os.kill(pid, signal.SIGKILL)
        killed_at = time.perf_counter()
        wait(lambda: not alive(pid), f"{name} to die")
        return killed_at

    def etcd_leader(self) -> str:
        for member in (1, 2, 3):
            if controlplane.etcd_is_leader(self.settings, self.state.etcd_client_url(member)):
                return f"etcd-{member}"
        raise SystemExit("no etcd member leads")

    def holder(self, component: str) -> str:
        return controlplane.lease_holder(self.settings, controlplane.LEADER_LEASES[component]) or ""

    def leader_of(self, component: str) -> tuple[str, str]:
        """(leading replica, the standby's identity)."""

        def found() -> tuple[str, str] | None:
            holder = self.holder(component)
            names = [f"{component}-{i}" for i in (1, 2)]
            leading = [n for n in names if holder and controlplane.holds(self.settings, n, holder)]
            if len(leading) != 1:
                return None
            standby = next(n for n in names if n != leading[0])
            identity = _identity(self.settings, standby)
            return (leading[0], identity) if identity else None

        result: tuple[str, str] | None = None

        def check() -> bool:
            nonlocal result
            result = found()
            return result is not None

        wait(check, f"one {component} replica leading, the other campaigning")
        assert result is not None
        return result


def _identity(settings: LauncherSettings, name: str) -> str:
    """The identity the running replica `name` campaigns as ("" until it has logged it: `up`
    only waits a second for a component without a health port, and under load the restarted
    replica logs it later; the killed one's identity, earlier in the log, would never lead)."""
    return controlplane.campaign_identity(settings.log_file(name).read_text(errors="replace"))


async def write_failover(cluster: Cluster, victim: str) -> tuple[float, int]:
    """Kill `victim` while writing through HAProxy, one write started every 10 ms (each on its
    own, so that a write stuck with the dead member holds no other up): (seconds from the kill
    to the first success of a write sent after it, writes that failed)."""
    url = f"{cluster.state.apiserver_url}/api/v1/namespaces/default/configmaps"
    outcomes: list[tuple[float, bool, float]] = []
    """(sent, succeeded, done) of every write."""

    async def write(client: httpx.AsyncClient) -> None:
        sent = time.perf_counter()
        try:
            body = {"metadata": {"name": f"bench-{victim}-{time.time_ns()}"}}
            ok = (await client.post(url, json=body)).status_code == 201
        except httpx.HTTPError:
            ok = False
        outcomes.append((sent, ok, time.perf_counter()))

    # room for every write stuck with a dead etcd leader (~7 s): a pool they filled would hold
    # up the writes started after them and measure the pool, not the cluster
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(verify=cluster.verify, timeout=15, limits=limits) as client:
        running: set[asyncio.Task[None]] = set()
        killed_at: float | None = None
        for sequence in range(6000):
            if killed_at is None and sequence == 20:
                killed_at = await asyncio.to_thread(cluster.kill, victim)
            task = asyncio.create_task(write(client), name=f"write {sequence}")
            running.add(task)
            task.add_done_callback(running.discard)
            if killed_at is not None and any(ok and s >= killed_at for s, ok, _ in outcomes):
                break
            await asyncio.sleep(0.01)
        await asyncio.gather(*running)
    assert killed_at is not None
    recovered = min(done for sent, ok, done in outcomes if ok and sent >= killed_at)
    return recovered - killed_at, sum(1 for _, ok, _ in outcomes if not ok)


async def create_many(cluster: Cluster, url: str, prefix: str, total: int) -> float:
    """Seconds for `total` ConfigMap creates from 20 concurrent clients to `url`."""
    names = iter(range(total))
    limits = httpx.Limits(max_connections=20)
    path = "/api/v1/namespaces/default/configmaps"
    async with httpx.AsyncClient(verify=cluster.verify, timeout=30, limits=limits) as client:

        async def worker() -> None:
            for i in names:
                body = {"metadata": {"name": f"{prefix}-{i}"}, "data": {"k": "v" * 64}}
                (await client.post(f"{url}{path}", json=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(20)))
        return time.perf_counter() - started


def throughput(cluster: Cluster, requests: int, rounds: int) -> None:
    print(f"ConfigMap creates, 20 concurrent clients, {requests} per run, alternated")
    pids = [pid for name, pid in cluster.launcher.pids().items()
            if name.startswith(("etcd-", "apiserver-", "loadbalancer"))]  # fmt: skip
    direct = f"https://127.0.0.1:{cluster.state.apiserver_ports[0]}"
    ways = (
        ("1 apiserver (direct)", direct),
        ("3 apiservers (HAProxy)", cluster.state.apiserver_url),
    )
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(IDLE_SECONDS)
    idle = (sum(cpu_seconds(p) for p in pids) - before) / IDLE_SECONDS
    print(f"  idle: {idle * 1000:.0f} ms CPU/s (Lease renewals, health checks, etcd heartbeats)")
    for round_ in range(rounds):
        for label, url in ways:
            before = sum(cpu_seconds(p) for p in pids)
            prefix = f"rate-{round_}-{'one' if url == direct else 'three'}"
            elapsed = asyncio.run(create_many(cluster, url, prefix, requests))
            cpu = sum(cpu_seconds(p) for p in pids) - before
            net = max(0.0, cpu - idle * elapsed)
            print(
                f"  {label:<22} {requests / elapsed:7.0f} writes/s   CPU/request "
                f"{cpu / requests * 1000:5.2f} ms, {net / requests * 1000:5.2f} ms above idle   "
                f"load {os.getloadavg()[0]:.1f}"
            )


def lease_failover(cluster: Cluster, component: str) -> float:
    leader, standby = cluster.leader_of(component)
    killed_at = cluster.kill(leader)
    wait(lambda: cluster.holder(component) == standby, f"the standby {component} to take over")
    return time.perf_counter() - killed_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="minik8s-bench-ha-launcher-")) / "home"
    launcher = make_launcher(home)
    try:
        started = time.perf_counter()
        launcher.up("--control-plane", "3", "--nodes", "0")
        print(f"minik8s up --control-plane 3 --nodes 0: {time.perf_counter() - started:.1f} s")
        cluster = Cluster(launcher)
        cluster.wait_whole()
        throughput(cluster, args.requests, args.rounds)
        print(f"Failover, kill -> next successful write through HAProxy, {args.kills} kills each")
        for what in ("apiserver", "etcd leader"):
            times, failures = [], []
            for k in range(args.kills):
                victim = f"apiserver-{k % 3 + 1}" if what == "apiserver" else cluster.etcd_leader()
                seconds, failed = asyncio.run(write_failover(cluster, victim))
                times.append(seconds)
                failures.append(failed)
                cluster.up()
            show(what, times)
            print(f"  {'':<22} failed writes per kill: max {max(failures)}, "
                  f"mean {statistics.mean(failures):.1f}")  # fmt: skip
        print("Failover, kill -> the standby holds the Lease (election 4s/3s/500ms)")
        for component in LEADER_ELECTED:
            times = []
            for _ in range(args.kills):
                times.append(lease_failover(cluster, component))
                cluster.up()
            show(component, times)
    finally:
        launcher.teardown()
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
