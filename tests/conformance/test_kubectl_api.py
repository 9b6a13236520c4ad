"""kubectl 1.32 and the Python client against a real cluster (Docker nodes): top from the
metrics server's Docker stats, autoscale under a CPU-burning load and back down, explain,
events (core and events.k8s.io)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import kubernetes
import pytest
import yaml

from tests.conformance.conftest import Kubectl
from tests.support.launcher import Launcher
from tests.support.waiting import wait_for


def burner(load_dir: Path) -> dict:
    """Pods that spin while `<load_dir>/on` exists and sleep otherwise (CPU limited to 200m)."""
    script = "while :; do if [ -f /load/on ]; then :; else sleep 1; fi; done"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burn"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burn"}},
            "template": {
                "metadata": {"labels": {"app": "burn"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "burn",
                            "image": "minik8s/busybox",
                            "imagePullPolicy": "Never",
                            "command": ["sh", "-c", script],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "16Mi"},
                                "limits": {"cpu": "200m", "memory": "64Mi"},
                            },
                            "volumeMounts": [{"name": "load", "mountPath": "/load"}],
                        }
                    ],
                    "volumes": [
                        {"name": "load", "hostPath": {"path": str(load_dir), "type": "Directory"}}
                    ],
                },
            },
        },
    }


@pytest.fixture()
def load_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="minik8s-hpa-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_top_and_autoscale_under_cpu_load(kubectl: Kubectl, load_dir: Path, tmp_path: Path) -> None:
    (load_dir / "on").write_text("1")
    manifest = tmp_path / "burn.yaml"
    manifest.write_text(yaml.safe_dump(burner(load_dir)))
    kubectl("apply", "-f", str(manifest))
    kubectl("rollout", "status", "deploy/burn", "--timeout=60s")

    nodes = wait_for(
        lambda: (r := kubectl("top", "nodes", check=False)).returncode == 0 and r.stdout,
        "kubectl top nodes to show metrics",
        timeout=40,
    )
    names = sorted(line.split()[0] for line in nodes.splitlines()[1:])
    assert names == ["node-1", "node-2"]
    pods = wait_for(
        lambda: (
            (r := kubectl("top", "pods", "--containers", check=False)).returncode == 0
            and len(r.stdout.splitlines()) == 2
            and r.stdout
        ),
        "kubectl top pods to show the burning pod",
        timeout=30,
    )
    pod, container, cpu, memory = pods.splitlines()[1].split()
    assert pod.startswith("burn-") and container == "burn"
    assert int(cpu.removesuffix("m")) > 50, pods  # spinning, near its 200m limit
    assert memory.endswith("Mi")

    created = kubectl("autoscale", "deploy", "burn", "--cpu-percent=50", "--min=1", "--max=3")
    assert created.stdout.strip() == "horizontalpodautoscaler.autoscaling/burn autoscaled"

    def desired() -> int:
        return int(kubectl("get", "hpa", "burn", "-o", "jsonpath={.status.desiredReplicas}")
                   .stdout or 0)  # fmt: skip

    wait_for(lambda: desired() == 3, "the autoscaler to scale burn up to 3", timeout=60)
    (load_dir / "on").unlink()
    wait_for(lambda: desired() == 1, "the autoscaler to scale burn back to 1", timeout=60)
    described = kubectl("describe", "hpa", "burn").stdout
    assert "SuccessfulRescale" in described and "New size: 3" in described
    assert "All metrics below target" in described


def test_explain_reads_the_openapi(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pod.spec.containers").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>")
    assert "  name\t<string> -required-" in out
    recursive = kubectl("explain", "deployment", "--recursive").stdout
    assert (
        "GROUP:      apps" in recursive and "    containers\t<[]Container> -required-" in recursive
    )
    missing = kubectl("explain", "pod.spec.nope", check=False)
    assert missing.returncode == 1 and 'field "nope" does not exist' in missing.stderr


def test_events_core_and_events_k8s_io(cluster: Launcher, kubectl: Kubectl, ns: str) -> None:
    kubectl("run", "ev", "--image=minik8s/busybox", "--image-pull-policy=Never",
            "--command", "--", "sleep", "3600")  # fmt: skip
    kubectl("wait", "--for=condition=Ready", "pod/ev", "--timeout=60s")
    listed = wait_for(
        lambda: "Started" in (out := kubectl("events").stdout) and out,
        "kubectl events to list the pod's events",
        timeout=30,
    )
    assert listed.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Pod/ev" in listed and "Scheduled" in listed

    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        events = kubernetes.client.EventsV1Api(client)
        reasons = {e.reason for e in events.list_namespaced_event(ns).items}
        assert {"Scheduled", "Started"} <= reasons
        first = next(e for e in events.list_namespaced_event(ns).items if e.reason == "Started")
        assert first.regarding.name == "ev" and first.note
        created = events.create_namespaced_event(
            ns,
            {
                "metadata": {"name": f"custom-{uuid.uuid4().hex[:6]}"},
                "eventTime": "2024-05-01T10:00:00.000000Z",
                "reportingController": "example.com/tester",
                "reportingInstance": "tester-1",
                "action": "Testing",
                "reason": "Tested",
                "type": "Normal",
                "note": "made through events.k8s.io/v1",
                "regarding": {"kind": "Pod", "name": "ev", "namespace": ns, "apiVersion": "v1"},
            },
        )
        assert created.reporting_controller == "example.com/tester"
    finally:
        client.close()
    core = kubectl("get", "events", "--field-selector", "reason=Tested", "-o", "yaml").stdout
    assert "made through events.k8s.io/v1" in core and "involvedObject" in core
    kubectl("delete", "pod", "ev", "--grace-period=1")  # sleep ignores SIGTERM


def test_endpointslices_through_kubectl_and_the_python_client(
    cluster: Launcher, kubectl: Kubectl, ns: str
) -> None:
    kubectl("run", "sl", "--image=minik8s/busybox", "--image-pull-policy=Never",
            "--labels=app=sl", "--command", "--", "sleep", "3600")  # fmt: skip
    kubectl("expose", "pod", "sl", "--port=80")
    kubectl("wait", "--for=condition=Ready", "pod/sl", "--timeout=60s")
    ip = kubectl("get", "pod", "sl", "-o", "jsonpath={.status.podIP}").stdout
    selector = "kubernetes.io/service-name=sl"
    listed = wait_for(
        lambda: ip in (out := kubectl("get", "endpointslices", "-l", selector).stdout) and out,
        "kubectl get endpointslices to show the pod's address",
        timeout=30,
    )
    header, row = listed.splitlines()
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row.split()[1:4] == ["IPv4", "80", ip] and row.startswith("sl-")
    described = kubectl("describe", "endpointslices", "-l", selector).stdout
    assert "AddressType:  IPv4" in described and f"- Addresses:  {ip}" in described

    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        discovery = kubernetes.client.DiscoveryV1Api(client)
        (slice_,) = discovery.list_namespaced_endpoint_slice(ns, label_selector=selector).items
        (endpoint,) = slice_.endpoints
        assert endpoint.addresses == [ip] and endpoint.conditions.ready
        assert endpoint.target_ref.name == "sl" and endpoint.node_name
        assert slice_.metadata.owner_references[0].kind == "Service"
        apiservers = discovery.read_namespaced_endpoint_slice("kubernetes", "default")
        assert apiservers.ports[0].name == "https" and apiservers.endpoints
    finally:
        client.close()
    kubectl("delete", "service", "sl")
    wait_for(
        lambda: "No resources found" in kubectl("get", "endpointslices", "-l", selector).stderr,
        "the slice collected with its Service",
        timeout=30,
    )
    kubectl("delete", "pod", "sl", "--grace-period=1")  # sleep ignores SIGTERM


def test_hand_written_endpoints_are_mirrored_and_routed(kubectl: Kubectl, ns: str) -> None:
    """A Service without a selector and its Endpoints written by hand with kubectl: the
    mirroring controller writes its EndpointSlice, and kube-proxy (which reads only slices)
    sends the ClusterIP to the address the Endpoints name."""
    kubectl("run", "mirror-backend", "--image=minik8s/nginx", "--image-pull-policy=Never")
    kubectl("wait", "--for=condition=Ready", "pod/mirror-backend", "--timeout=60s")
    ip = kubectl("get", "pod", "mirror-backend", "-o", "jsonpath={.status.podIP}").stdout
    manifest = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
         "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "http", "port": 80}]}]},
    ]  # fmt: skip
    kubectl("apply", "-f", "-", input_=yaml.safe_dump_all(manifest))
    selector = "endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io"
    listed = wait_for(
        lambda: ip in (out := kubectl("get", "endpointslices", "-l", selector).stdout) and out,
        "the mirrored slice to list the hand-written address",
        timeout=30,
    )
    assert listed.splitlines()[1].split()[1:4] == ["IPv4", "80", ip]
    cluster_ip = kubectl("get", "service", "manual", "-o", "jsonpath={.spec.clusterIP}").stdout

    def answers() -> bool:
        try:
            return httpx.get(f"http://{cluster_ip}/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, f"the ClusterIP {cluster_ip} to reach nginx at {ip}", timeout=30)
    kubectl("delete", "endpoints", "manual")
    wait_for(
        lambda: "No resources found" in kubectl("get", "endpointslices", "-l", selector).stderr,
        "the mirrored slice gone with its Endpoints",
        timeout=30,
    )
    kubectl("delete", "service", "manual")
    kubectl("delete", "pod", "mirror-backend", "--grace-period=1")


def test_logs_of_a_container_that_never_started_say_why(kubectl: Kubectl) -> None:
    kubectl("run", "nopull", "--image=minik8s/not-built-here", "--image-pull-policy=Never")
    reason = "{.status.containerStatuses[0].state.waiting.reason}"
    wait_for(
        lambda: (
            kubectl("get", "pod", "nopull", "-o", f"jsonpath={reason}").stdout
            == "ErrImageNeverPull"
        ),
        "the container to wait with ErrImageNeverPull",
        timeout=60,
    )
    logs = kubectl("logs", "nopull", check=False)
    assert logs.returncode == 1
    assert logs.stderr.strip() == (
        'Error from server (BadRequest): container "nopull" in pod "nopull" is waiting to '
        "start: ErrImageNeverPull"
    )
    kubectl("delete", "pod", "nopull", "--grace-period=1")
