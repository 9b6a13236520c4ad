"""minikctl against a real apiserver: the seed commands, and `get` columns checked against
kubectl's for the same objects."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from minik8s.cli.minikctl.app import app
from tests.support.api import Api
from tests.support.waiting import wait_for

runner = CliRunner()


class Minikctl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.base = ["--kubeconfig", str(kubeconfig), "-n", namespace]

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = runner.invoke(app, [*self.base, *args], input=input)
        if ok:
            assert result.exit_code == 0, f"minikctl {' '.join(args)}:\n{result.output}"
        return result


@pytest.fixture()
def mk(kubeconfig: Path, ns: str) -> Minikctl:
    return Minikctl(kubeconfig, ns)


def deployment_yaml(replicas: int, image: str = "nginx:1.25") -> str:
    return yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": image,
                                                        "ports": [{"containerPort": 80}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}},
    ])  # fmt: skip


def test_seed_commands(mk: Minikctl, ns: str, tmp_path: Path) -> None:
    assert mk("run", "nginx-pod", "--image=nginx", "--port=80").stdout == "pod/nginx-pod created\n"
    lines = mk("get", "pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:3] == ["nginx-pod", "0/1", "Pending"]
    wide = mk("get", "po", "-o", "wide").stdout.splitlines()[0]
    assert wide.split()[5:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert (
        mk("get", "po", "nginx-pod", "-o", "jsonpath={.spec.containers[0].image}").stdout == "nginx"
    )
    assert mk("get", "po", "-o", "name").stdout == "pod/nginx-pod\n"
    described = mk("describe", "pod", "nginx-pod").stdout
    assert f"Namespace:    {ns}" in described and "Events:" in described
    assert mk("label", "po", "nginx-pod", "tier=web").stdout == "pod/nginx-pod labeled\n"
    assert "tier=web" in mk("get", "po", "--show-labels").stdout
    assert mk("get", "po", "-l", "tier=db", ok=False).stderr.startswith("No resources found")

    manifest = tmp_path / "web.yaml"
    manifest.write_text(deployment_yaml(2))
    assert mk("apply", "-f", str(manifest)).stdout.splitlines() == [
        "deployment.apps/web created", "service/web created",
    ]  # fmt: skip
    assert mk("apply", "-f", str(manifest)).stdout.splitlines() == [
        "deployment.apps/web unchanged", "service/web unchanged",
    ]  # fmt: skip
    manifest.write_text(deployment_yaml(2, image="nginx:1.26"))
    assert (
        mk("apply", "-f", str(tmp_path)).stdout.splitlines()[0] == "deployment.apps/web configured"
    )
    image = mk("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.stdout == "nginx:1.26"

    assert mk("scale", "deploy/web", "--replicas", "4").stdout == "deployment.apps/web scaled\n"
    assert mk("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "4"
    assert mk("rollout", "restart", "deploy/web").stdout == "deployment.apps/web restarted\n"
    assert mk("expose", "deploy/web", "--name", "web-np", "--port", "8080", "--target-port", "80",
              "--type", "NodePort").stdout == "service/web-np exposed\n"  # fmt: skip

    result = mk("delete", "pod", "nginx-pod", "nope", ok=False)
    assert result.exit_code == 1
    assert result.stdout == 'pod "nginx-pod" deleted\n'
    assert result.stderr == 'Error from server (NotFound): pods "nope" not found\n'
    assert mk("get", "po", "nginx-pod", ok=False).stderr == (
        'Error from server (NotFound): pods "nginx-pod" not found\n'
    )
    assert mk("delete", "-f", str(manifest)).stdout.splitlines() == [
        'deployment.apps "web" deleted', 'service "web" deleted',
    ]  # fmt: skip


def test_errors_from_the_server(mk: Minikctl) -> None:
    mk("run", "dup", "--image=nginx")
    result = mk("run", "dup", "--image=nginx", ok=False)
    assert (result.exit_code, result.stderr) == (
        1, 'Error from server (AlreadyExists): pods "dup" already exists\n',
    )  # fmt: skip
    bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c}]}\n"
    result = mk("create", "-f", "-", input=bad, ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith('The Pod "bad" is invalid: ')
    result = mk("logs", "dup", ok=False)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1


def test_trace_follows_the_flow(mk: Minikctl, api: Api, ns: str) -> None:
    """With no scheduler or kubelet, the test plays their part through the API."""

    def play() -> None:
        path = f"/api/v1/namespaces/{ns}/pods/traced"
        wait_for(lambda: api.get(path).status_code == 200, "the pod to be created")
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "traced"},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}  # fmt: skip
        assert api.post(path + "/binding", binding).status_code == 201
        pod = api.get(path).json()
        pod["status"] = {
            "phase": "Running", "podIP": "10.244.0.7",
            "conditions": [{"type": "PodScheduled", "status": "True"},
                           {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "traced", "image": "nginx", "imageID": "", "ready": True,
                                   "restartCount": 0, "containerID": "docker://0123456789ab",
                                   "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}],
        }  # fmt: skip
        response = api.put(path + "/status", pod)
        assert response.status_code == 200, response.text

    player = threading.Thread(target=play)
    player.start()
    result = mk("run", "traced", "--image=nginx", "--trace", "--timeout", "10")
    player.join()
    text = result.stdout
    for step in ("manifest generated", "accepted by apiserver", "stored in etcd", "scheduled",
                 "containers created", "running", "ready"):  # fmt: skip
        assert step in text, text
    assert "bound to node node-1" in text and "pod IP 10.244.0.7" in text


def test_trace_times_out_saying_what_is_awaited(mk: Minikctl) -> None:
    result = mk("run", "waiting", "--image=nginx", "--trace", "--timeout", "0.5", ok=False)
    assert result.exit_code == 1
    assert "stored in etcd" in result.stdout
    assert "still waiting for the scheduler" in result.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("args", [["pods"], ["pods", "-o", "wide"], ["deploy"], ["svc"],
                                  ["deploy,svc"], ["ns"]])  # fmt: skip
def test_get_columns_match_kubectl(
    mk: Minikctl, kubeconfig: Path, ns: str, tmp_path: Path, args: list[str]
) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(deployment_yaml(2))
    mk("apply", "-f", str(manifest))
    mk("run", "nginx-pod", "--image=nginx")
    ours = mk("get", *args).stdout.splitlines()
    theirs = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "-n", ns, "get", *args],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip

    def shape(lines: list[str]) -> list[list[str]]:  # everything but the ages, which may tick
        return [[c for c in line.split() if not c[:1].isdigit() or "/" in c] for line in lines]

    assert ours[0] == theirs[0]
    assert shape(ours) == shape(theirs)
