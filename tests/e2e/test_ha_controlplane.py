"""`minik8s up --control-plane 3` with real processes: three etcd members, three apiservers
behind HAProxy, two of each leader-elected component; kubectl goes through the load balancer.

One SIGKILL at a time (the apiserver serving the most connections, the etcd leader, the
scheduler's leader): each time kubectl, writing all along, sees at most one failed request,
and a pod created afterwards runs. One cluster start-up serves every check (issue 22).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from minik8s.cli.launcher import controlplane, loadbalancer
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.cli.launcher.state import ClusterState, load
from tests.support.launcher import Launcher, alive, launched
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    with launched(tmp_path_factory.mktemp("minik8s-ha-home"), "--control-plane", "3") as launcher:
        yield launcher


def _cluster(launcher: Launcher) -> tuple[LauncherSettings, ClusterState]:
    settings = LauncherSettings(home=launcher.home)
    cluster = load(settings.state_file)
    assert cluster is not None
    return settings, cluster


def _roles(launcher: Launcher) -> dict[str, str]:
    """COMPONENT -> ROLE from `minik8s status`."""
    result = launcher.run("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0]
    column = header.index("ROLE")
    return {
        line.split()[0]: line[column:].strip()
        for line in lines[1:]
        if line.strip() and not line.startswith(("apiserver version", "kubeconfig"))
    }


def test_up_runs_three_members_behind_the_load_balancer(ha: Launcher) -> None:
    _, cluster = _cluster(ha)
    pids = ha.pids()
    expected = {
        "etcd-1", "etcd-2", "etcd-3", "apiserver-1", "apiserver-2", "apiserver-3",
        "loadbalancer", "scheduler-1", "scheduler-2", "controller-manager-1",
        "controller-manager-2", "cloud-controller-manager-1", "cloud-controller-manager-2",
    }  # fmt: skip
    assert expected <= set(pids) and all(alive(pids[name]) for name in expected), pids
    server = yaml.safe_load(ha.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert server == f"https://127.0.0.1:{ha.env['MINIK8S_APISERVER_PORT']}"
    assert "haproxy" in Path(f"/proc/{pids['loadbalancer']}/cmdline").read_text()
    # a real 3-member etcd, members talking TLS to each other
    etcd = " ".join(Path(f"/proc/{pids['etcd-2']}/cmdline").read_text().split("\0"))
    assert "--peer-client-cert-auth" in etcd and "--initial-cluster=etcd-1=https://" in etcd
    # each apiserver registered itself in the `kubernetes` Endpoints (the lease reconciler)
    ports = {str(port) for port in cluster.apiserver_ports}
    wait_for(
        lambda: ports <= set(_endpoint_ports(ha)), "three apiservers in the kubernetes Endpoints"
    )

    roles = wait_for(lambda: _all_roles(ha), "status naming every leader", timeout=30)
    assert sorted(roles[f"etcd-{i}"] for i in (1, 2, 3)) == ["follower", "follower", "leader"]
    assert all(roles[f"apiserver-{i}"] == "lb: UP" for i in (1, 2, 3)), roles
    for component in ("scheduler", "controller-manager", "cloud-controller-manager"):
        pair = sorted(roles[f"{component}-{i}"] for i in (1, 2))
        assert pair == ["leader", "standby"], (component, roles)


def _all_roles(launcher: Launcher) -> dict[str, str] | None:
    roles = _roles(launcher)
    return roles if list(roles.values()).count("leader") == 4 else None


def _endpoint_ports(launcher: Launcher) -> list[str]:
    found = launcher.kubectl("get", "endpoints", "kubernetes", "-o", "json")
    subsets = json.loads(found.stdout).get("subsets") or []
    return [str(port["port"]) for subset in subsets for port in subset["ports"]]


@dataclass
class Writer:
    """kubectl creating ConfigMaps through the load balancer, one after another, recording
    when each request ended and whether it succeeded."""

    launcher: Launcher
    results: list[tuple[float, bool, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            done = self.launcher.kubectl(
                "create", "configmap", f"ha-writer-{count}", "--request-timeout=10s"
            )
            self.results.append((time.monotonic(), done.returncode == 0, done.stderr.strip()))

    def successes_after(self, moment: float) -> int:
        return sum(1 for at, ok, _ in self.results if ok and at > moment)

    def failures_between(self, start: float, end: float) -> list[str]:
        return [why for at, ok, why in self.results if not ok and start < at <= end]


def _kill(launcher: Launcher, name: str) -> None:
    pid = launcher.pids()[name]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), f"{name} (pid {pid}) to die")


def _serving_apiserver(settings: LauncherSettings) -> str:
    """The apiserver holding the most connections through the load balancer."""
    servers = loadbalancer.query_stats(settings.loadbalancer_socket) or []
    assert servers, "HAProxy's stats socket answers"
    return max(servers, key=lambda s: s.sessions).name


def _etcd_leader(settings: LauncherSettings, cluster: ClusterState) -> str:
    for member in (1, 2, 3):
        if controlplane.etcd_is_leader(settings, cluster.etcd_client_url(member)):
            return f"etcd-{member}"
    raise AssertionError("no etcd member says it leads")


def _scheduler_leader(launcher: Launcher) -> str:
    roles = _roles(launcher)
    return next(name for name, role in roles.items()
                if name.startswith("scheduler-") and role == "leader")  # fmt: skip


def _pod_runs(launcher: Launcher, name: str) -> None:
    created = launcher.kubectl(
        "run", name, "--image=minik8s/busybox", "--image-pull-policy=Never",
        "--", "sleep", "3600",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    def phase() -> bool:
        got = launcher.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
        return got.stdout == "Running"

    wait_for(phase, f"pod {name} created after the kill to run", timeout=60, interval=0.5)


def test_losing_any_one_member_keeps_the_cluster_working(ha: Launcher) -> None:
    settings, cluster = _cluster(ha)
    writer = Writer(ha)
    thread = threading.Thread(target=writer.run, name="kubectl writer", daemon=True)
    thread.start()
    victims = [
        ("apiserver", lambda: _serving_apiserver(settings)),
        ("etcd", lambda: _etcd_leader(settings, cluster)),
        ("scheduler", lambda: _scheduler_leader(ha)),
    ]
    kills: list[tuple[str, float]] = []
    try:
        wait_for(lambda: writer.successes_after(0) >= 3, "kubectl's first writes")
        for what, pick in victims:
            victim = pick()
            moment = time.monotonic()
            _kill(ha, victim)
            kills.append((victim, moment))
            wait_for(
                lambda m=moment: writer.successes_after(m) >= 3,  # type: ignore[misc]
                f"kubectl writes to succeed again after {victim} was killed",
                timeout=30,
            )
            _pod_runs(ha, f"after-{what}-kill")
    finally:
        writer.stop.set()
        thread.join(timeout=15)
    ends = [moment for _, moment in kills[1:]] + [time.monotonic()]
    for (victim, start), end in zip(kills, ends, strict=True):
        failed = writer.failures_between(start, end)
        assert len(failed) <= 1, f"kubectl failed {len(failed)} times after {victim}: {failed}"
    before = writer.failures_between(0, kills[0][1])
    assert not before, f"kubectl failed before any kill: {before}"
    roles = _roles(ha)
    assert roles[kills[1][0]] == "", "a killed etcd member has no role"
    assert roles[f"apiserver-{kills[0][0][-1]}"].startswith("lb: DOWN"), roles
