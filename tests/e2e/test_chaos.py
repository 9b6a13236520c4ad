"""Chaos: a 20-replica Deployment mid-rollout while each component and etcd is killed with
SIGKILL in turn and restarted by the supervisor (`minik8s up` then waits for every component
to be healthy before the next kill). Afterwards the rollout
converges, no object is lost, and no pod runs a container twice (the restarted kubelet adopts
what runs instead of starting it again)."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import controllers
from tests.support.launcher import Launcher, alive, launched
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

NS = "chaos"
REPLICAS = 20
KILL_ORDER = (
    "apiserver", "controller-manager", "scheduler", "kubelet-node-1", "proxy", "etcd",
    "dns", "cloud-controller-manager", "metrics-server", "dashboard",
)  # fmt: skip
"""Every process `minik8s up --nodes 1` starts."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    with launched(tmp_path_factory.mktemp("chaos-home"), "--nodes", "1") as launcher:
        yield launcher


def kubectl_json(launcher: Launcher, *args: str) -> Any:
    result = launcher.kubectl(*args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def apply(launcher: Launcher, manifest: dict[str, Any], directory: Path) -> None:
    path = directory / f"{manifest['kind']}-{manifest['metadata']['name']}.json"
    path.write_text(json.dumps(manifest))
    result = launcher.kubectl("apply", "-f", str(path))
    assert result.returncode == 0, result.stderr


def deployment(revision: str) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            "strategy": {"rollingUpdate": {"maxSurge": 5, "maxUnavailable": 5}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"revision": revision}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "main",
                            "image": "minik8s/busybox:latest",
                            "imagePullPolicy": "Never",
                            "command": ["sleep", "3600"],
                        }
                    ],
                },
            },
        },
    }


def rolled_out(launcher: Launcher, revision: str) -> bool:
    web = kubectl_json(launcher, "-n", NS, "get", "deployment", "web")
    pods = kubectl_json(launcher, "-n", NS, "get", "pods", "-l", "app=web")["items"]
    return controllers.rolled_out(
        web, pods, REPLICAS, lambda p: p["metadata"]["annotations"]["revision"] == revision
    )


def running_containers(launcher: Launcher) -> list[tuple[str, str]]:
    """(pod uid, container name) of every running container of the cluster."""
    uid = launcher.cluster_uid()
    assert uid
    listed = subprocess.run(
        ["docker", "ps", "--filter", f"label=minik8s.cluster={uid}", "--format",
         '{{.Label "minik8s.pod-uid"}} {{.Label "minik8s.container"}}'],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return [tuple(line.split(" ", 1)) for line in listed.splitlines() if line]  # type: ignore[misc]


def test_rollout_converges_while_every_component_is_killed(
    cluster: Launcher, tmp_path: Path
) -> None:
    launcher = cluster
    assert set(launcher.pids()) - {"supervise"} == set(KILL_ORDER), "a new one joins the kills"
    assert launcher.kubectl("create", "namespace", NS).returncode == 0
    keep = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep", "namespace": NS},
            "data": {"a": "b"}}  # fmt: skip
    apply(launcher, keep, tmp_path)
    apply(launcher, deployment("1"), tmp_path)
    wait_for(lambda: rolled_out(launcher, "1"), f"{REPLICAS} pods of revision 1", 120, 1)
    before = {
        kind: {o["metadata"]["name"]: o["metadata"]["uid"]
               for o in kubectl_json(launcher, "-n", NS, "get", kind)["items"]}
        for kind in ("deployments", "configmaps")
    }  # fmt: skip

    apply(launcher, deployment("2"), tmp_path)  # the rollout starts
    for name in KILL_ORDER:
        pid = launcher.pids()[name]
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: not alive(pid), f"{name} (pid {pid}) to die", 10)
        wait_for(
            lambda name=name, pid=pid: (
                launcher.pids()[name] != pid and alive(launcher.pids()[name])
            ),
            f"the supervisor to start {name} again",
            30,
        )
        launcher.up("--nodes", "1")  # a barrier: waits for every component to be healthy
        assert alive(launcher.pids()[name])

    wait_for(lambda: rolled_out(launcher, "2"), "the rollout to converge after the kills", 150, 1)
    after = {
        kind: {o["metadata"]["name"]: o["metadata"]["uid"]
               for o in kubectl_json(launcher, "-n", NS, "get", kind)["items"]}
        for kind in ("deployments", "configmaps")
    }  # fmt: skip
    assert after == before, "objects were lost or replaced"

    pods = kubectl_json(launcher, "-n", NS, "get", "pods", "-l", "app=web")["items"]
    live = {p["metadata"]["uid"] for p in pods if not p["metadata"].get("deletionTimestamp")}

    def one_container_each() -> bool:
        counts = collections.Counter(running_containers(launcher))
        mains = {uid: n for (uid, container), n in counts.items() if container == "main"}
        assert all(n == 1 for n in counts.values()), f"a container runs twice: {counts}"
        return set(mains) == live  # old pods' containers are gone, each live pod runs one

    wait_for(one_container_each, "one running main container per live pod, none twice", 60, 1)
