"""The seed flow end to end: `minik8s up --nodes 2`, then minikctl as a user types it.

`minikctl run nginx-pod --image=nginx` → scheduled → Running on a real Docker kubelet →
HTTP from the host to the pod IP → logs → delete → the container is gone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.support.launcher import Launcher, make_launcher
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

MINIKCTL = [sys.executable, "-m", "minik8s.cmd.minikctl"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = make_launcher(tmp_path_factory.mktemp("seed-home"))
    try:
        launcher.up("--nodes", "2")
        yield launcher
    finally:
        launcher.teardown()


def minikctl(cluster: Launcher, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*MINIKCTL, "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True, text=True, timeout=120, env=cluster.env,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, f"minikctl {' '.join(args)}:\n{result.stderr}"
    return result


def test_both_nodes_are_ready(cluster: Launcher) -> None:
    def ready_nodes() -> list[str]:
        out = minikctl(cluster, "get", "nodes", "--no-headers").stdout
        return [line.split()[0] for line in out.splitlines() if line.split()[1] == "Ready"]

    assert wait_for(lambda: len(ready_nodes()) == 2, "two Ready nodes", 60)
    assert sorted(ready_nodes()) == ["node-1", "node-2"]


def test_run_a_pod_reach_it_read_its_logs_and_delete_it(cluster: Launcher) -> None:
    result = minikctl(cluster, "run", "nginx-pod", "--image=nginx", "--port=80")
    assert result.stdout.strip() == "pod/nginx-pod created"

    def phase() -> str:
        return minikctl(cluster, "get", "pod", "nginx-pod", "-o", "jsonpath={.status.phase}").stdout

    wait_for(lambda: phase() == "Running", "nginx-pod to be Running", 90)
    wide = minikctl(cluster, "get", "pods", "-o", "wide").stdout.splitlines()
    row = next(line.split() for line in wide if line.startswith("nginx-pod"))
    assert row[1:3] == ["1/1", "Running"]
    pod_ip, node = row[5], row[6]
    assert node in ("node-1", "node-2")

    # A container this test created: its IP is on the minik8s bridge of this machine.
    answer = wait_for(
        lambda: httpx.get(f"http://{pod_ip}/", timeout=2), f"nginx to answer on {pod_ip}", 30
    )
    assert answer.status_code == 200 and "nginx" in answer.text.lower()

    logs = minikctl(cluster, "logs", "nginx-pod", check=False)
    assert logs.returncode == 0, logs.stderr

    minikctl(cluster, "delete", "pod", "nginx-pod")
    client = docker.from_env()
    try:
        left = client.containers.list(all=True, filters={"label": ["minik8s.pod=nginx-pod"]})
        assert left == [], "the pod's containers must be gone once delete returns"
    finally:
        client.close()
    gone = minikctl(cluster, "get", "pod", "nginx-pod", check=False)
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_trace_shows_the_seed_flow(cluster: Launcher) -> None:
    result = minikctl(cluster, "run", "traced", "--image=nginx", "--trace", "--timeout", "90")
    out = result.stdout
    for step in ("accepted", "etcd", "node-", "Running"):
        assert step in out, out
    minikctl(cluster, "delete", "pod", "traced")
