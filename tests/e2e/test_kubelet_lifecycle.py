"""The kubelet process: node registration and Lease, restart safety, logs and exec through the
apiserver with real kubectl, and the hollow (fake) runtime."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.kubelet_support import (
    busybox,
    container_status,
    create,
    kubectl,
    pod,
    requires_docker,
    running,
    running_kubelet,
    wait_pod,
)
from tests.support.api import Api
from tests.support.kubelet import Kubelet, containers
from tests.support.processes import temp_dir
from tests.support.waiting import wait_for

pytestmark = [requires_docker]


@pytest.fixture()
def own_kubelet(api_m: Api, kubeconfig_m: Path) -> Iterator[Kubelet]:
    """A kubelet of this test's own (it gets killed and restarted)."""
    with running_kubelet(api_m, kubeconfig_m) as k:
        yield k


def test_node_registration_status_and_lease(api_m: Api, kubelet: Kubelet) -> None:
    node = api_m.get(f"/api/v1/nodes/{kubelet.node_name}").json()
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == kubelet.node_name
    status = node["status"]
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
    }
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == kubelet.port
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert int(status["capacity"]["pods"]) == 110
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{kubelet.node_name}"
    lease = wait_for(lambda: api_m.get(path).json().get("spec"), "the node lease", timeout=10)
    first = lease["renewTime"]
    wait_for(
        lambda: api_m.get(path).json()["spec"]["renewTime"] != first,
        "the node lease to be renewed",
        timeout=10,
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_logs_and_exec_through_the_apiserver(
    api_m: Api, kubelet: Kubelet, kubeconfig_m: Path, ns: str
) -> None:
    create(
        api_m,
        ns,
        pod("talk", kubelet.node_name, [busybox("c", "echo line-1; echo line-2; sleep 3600")]),
    )
    wait_pod(api_m, ns, "talk", running, "Running", kubelet=kubelet)
    wait_for(lambda: "line-2" in kubectl(kubeconfig_m, ns, "logs", "talk").stdout, "kubectl logs")
    tail = kubectl(kubeconfig_m, ns, "logs", "talk", "--tail=1")
    assert tail.stdout == "line-2\n", tail
    result = kubectl(kubeconfig_m, ns, "exec", "talk", "--", "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    failed = kubectl(kubeconfig_m, ns, "exec", "talk", "--", "sh", "-c", "exit 7")
    assert failed.returncode == 7, failed
    piped = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig_m}", "-n", ns, "exec", "-i", "talk", "--", "cat"],
        input="through stdin\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stdout == "through stdin\n", piped.stderr
    missing = kubectl(kubeconfig_m, ns, "logs", "talk", "-c", "nope")
    assert missing.returncode == 1 and "not valid for pod talk" in missing.stderr


def test_kill_9_and_restart_adopts_containers_and_removes_orphans(
    api_m: Api, own_kubelet: Kubelet, ns: str
) -> None:
    k = own_kubelet
    create(api_m, ns, pod("keep", k.node_name, [busybox("c", "sleep 3600")]))
    create(
        api_m,
        ns,
        pod("gone", k.node_name, [busybox("c", "sleep 3600")], terminationGracePeriodSeconds=0),
    )
    for name in ("keep", "gone"):
        wait_pod(api_m, ns, name, running, "Running", kubelet=k)
    before = set(containers(k.node_name, "minik8s.pod=keep", all_=False))
    assert len(before) == 2  # sandbox + app
    k.kill()
    # Removed while the kubelet is down (force: no kubelet can confirm).
    r = api_m.delete(f"/api/v1/namespaces/{ns}/pods/gone", {"gracePeriodSeconds": 0})
    assert r.status_code == 200, r.text
    k.start()
    wait_for(
        lambda: containers(k.node_name, "minik8s.pod=gone") == [],
        "the orphaned containers to be removed",
        timeout=20,
    )
    p = wait_pod(api_m, ns, "keep", running, "still Running", kubelet=k)
    assert set(containers(k.node_name, "minik8s.pod=keep")) == before, "no duplicates"
    assert container_status(p, "c")["restartCount"] == 0


def test_fake_runtime_runs_pods_without_docker(api_m: Api, kubeconfig_m: Path) -> None:
    work = temp_dir("minik8s-hollow-")
    k = Kubelet(kubeconfig_m, work, runtime="fake")
    k.start()
    ns = api_m.namespace()
    try:
        k.wait_ready(api_m)
        create(api_m, ns, pod("hollow", k.node_name, [{"name": "c", "image": "anything:1"}]))
        p = wait_pod(api_m, ns, "hollow", running, "Running", kubelet=k)
        assert p["status"]["podIP"].startswith("10.250.")
        assert containers(k.node_name) == []
        r = api_m.delete(f"/api/v1/namespaces/{ns}/pods/hollow")
        assert r.status_code == 200
        wait_for(
            lambda: api_m.get(f"/api/v1/namespaces/{ns}/pods/hollow").status_code == 404,
            "the hollow pod to be deleted",
        )
    finally:
        k.stop()
        shutil.rmtree(work, ignore_errors=True)
