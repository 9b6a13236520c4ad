"""The metrics pipeline and the autoscaler with real processes (no Docker: a hollow kubelet,
whose containers use steady made-up resources): kubelet /metrics/resource and /stats/summary
-> minik8s-metrics-server -> the apiserver's aggregation layer -> kubectl top and the
horizontal pod autoscaler in the controller-manager. One cluster of its own for the module."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from minik8s.api import meta
from tests.support.api import Api
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver, Etcd, Process, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

NODE = "hollow-metrics-1"
HPA_FLAGS = [
    "--leader-elect=false",
    "--controllers=deployment,replicaset,horizontalpodautoscaling",
    "--horizontal-pod-autoscaler-sync-period=1s",
    "--horizontal-pod-autoscaler-downscale-stabilization=3s",
]


@dataclass
class Cluster:
    api: Api
    kubeconfig: Path
    kubelet_port: int
    metrics_server: Process
    work: Path

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", "default", *args],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result


def _process(name: str, module: str, work: Path, *args: str) -> Process:
    process = Process(name, [sys.executable, "-m", module, *args], work / f"{name}.log")
    process.start()
    return process


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    work = temp_dir("minik8s-metrics-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    server = Apiserver(
        etcd.url,
        work / "apiserver",
        token="metrics-test-token",
        extra_args=["--aggregator-loopback-services=kube-system/metrics-server"],
    )
    processes: list[Any] = []
    api = None
    try:
        server.start()
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        api = Api(server)
        kubelet_port = free_port()
        processes.append(
            _process(
                "kubelet", "minik8s.kubelet.server", work, f"--kubeconfig={kubeconfig}",
                f"--node-name={NODE}", "--runtime=fake", f"--port={kubelet_port}",
            )
        )  # fmt: skip
        processes.append(
            _process("scheduler", "minik8s.scheduler.server", work, f"--kubeconfig={kubeconfig}",
                     "--healthz-port=0", "--leader-elect=false")
        )  # fmt: skip
        metrics_server = _process(
            "metrics-server", "minik8s.metricsserver.server", work, f"--kubeconfig={kubeconfig}",
            "--secure-port=0", "--metric-resolution=1s",
        )  # fmt: skip
        processes.append(metrics_server)
        manager = ControllerManager(kubeconfig, work / "cm.log", extra_args=HPA_FLAGS)
        manager.start()
        processes.append(manager)
        wait_for(
            lambda: (
                api.get(f"/api/v1/nodes/{NODE}").status_code == 200
                and httpx.get(f"http://127.0.0.1:{kubelet_port}/healthz").status_code == 200
            ),
            "the hollow kubelet to register its node and serve its API",
            timeout=30,
        )
        yield Cluster(api, kubeconfig, kubelet_port, metrics_server, work)
    finally:
        for process in reversed(processes):
            process.stop()
        if api is not None:
            api.close()
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def available(cluster: Cluster) -> bool:
    r = cluster.api.get("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io")
    if r.status_code != 200:
        return False
    return meta.condition_is_true(r.json(), "Available")


def test_kubelet_resource_endpoints(cluster: Cluster) -> None:
    text = httpx.get(f"http://127.0.0.1:{cluster.kubelet_port}/metrics/resource").text
    assert "# TYPE node_cpu_usage_seconds_total counter" in text
    assert "resource_scrape_error 0" in text
    summary = httpx.get(f"http://127.0.0.1:{cluster.kubelet_port}/stats/summary").json()
    assert summary["node"]["nodeName"] == NODE
    assert summary["node"]["cpu"]["usageCoreNanoSeconds"] > 0


def test_top_through_the_aggregation_layer(cluster: Cluster) -> None:
    wait_for(lambda: available(cluster), "v1beta1.metrics.k8s.io to be Available", timeout=30)
    groups = cluster.api.get("/apis").json()["groups"]
    assert "metrics.k8s.io" in [g["name"] for g in groups]
    cluster.kubectl("create", "deployment", "idle", "--image=nginx", "--replicas=2")
    top = wait_for(
        lambda: (r := cluster.kubectl("top", "nodes", check=False)).returncode == 0 and r.stdout,
        "kubectl top nodes to answer",
        timeout=30,
    )
    assert top.splitlines()[0].split() == [
        "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)",
    ]  # fmt: skip
    assert top.splitlines()[1].startswith(NODE)
    pods = wait_for(
        lambda: (
            len((r := cluster.kubectl("top", "pods", "--containers")).stdout.splitlines()) == 3
            and r.stdout
        ),
        "kubectl top pods to show both idle pods",
        timeout=30,
    )
    assert pods.splitlines()[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    metrics = cluster.api.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods").json()
    assert metrics["kind"] == "PodMetricsList" and len(metrics["items"]) == 2
    missing = cluster.api.get("/apis/metrics.k8s.io/v1beta1/nodes/nope")
    assert missing.status_code == 404
    assert missing.json()["message"] == 'nodemetrics.metrics.k8s.io "nope" not found'


def test_autoscaler_scales_up_and_back_down(cluster: Cluster) -> None:
    """Hollow containers burn 2-40m each: a 1m request is 200%+ of it, scale up to the max;
    a 10000% target then scales down once the 3 s stabilization window has passed."""
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=1")
    cluster.kubectl("set", "resources", "deployment", "web", "--requests=cpu=1m")
    cluster.kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=3")

    def replicas() -> int:
        return int(cluster.kubectl("get", "hpa", "web", "-o", "jsonpath={.status.desiredReplicas}")
                   .stdout or 0)  # fmt: skip

    wait_for(lambda: replicas() == 3, "the autoscaler to scale web up to 3", timeout=40)
    hpa = cluster.api.get("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web")
    conditions = {c["type"]: c for c in hpa.json()["status"]["conditions"]}
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    assert conditions["ScalingLimited"]["reason"] in ("TooManyReplicas", "ScaleUpLimit")
    targets = cluster.kubectl("get", "hpa", "web").stdout.splitlines()[1].split()
    assert targets[0] == "web" and targets[1] == "Deployment/web"
    cluster.api.patch(  # through autoscaling/v1, stored as v2
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web",
        {"spec": {"targetCPUUtilizationPercentage": 10000}},
        "application/merge-patch+json",
    )
    wait_for(lambda: replicas() == 1, "the autoscaler to scale web back to 1", timeout=40)
    events = cluster.kubectl("get", "events", "--field-selector", "reason=SuccessfulRescale").stdout
    assert (
        "New size: 3; reason: cpu resource utilization (percentage of request) above target"
        in events
    )
    assert "All metrics below target" in events


def test_metrics_group_leaves_discovery_when_its_server_stops(cluster: Cluster) -> None:
    cluster.metrics_server.stop()
    wait_for(lambda: not available(cluster), "v1beta1.metrics.k8s.io to turn unavailable")
    groups = cluster.api.get("/apis").json()["groups"]
    assert "metrics.k8s.io" not in [g["name"] for g in groups]
    top = cluster.kubectl("top", "nodes", check=False)
    assert top.returncode == 1 and "Metrics API not available" in top.stderr
    r = cluster.api.get("/apis/metrics.k8s.io/v1beta1/nodes")
    assert r.status_code == 503
