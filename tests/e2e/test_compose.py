"""The docker-compose cluster end to end (deploy/docker-compose.yml; `make test-compose`).

`docker-compose up -d` with two nodes → both Ready, each with its own podCIDR → a 4-replica
Deployment spreads over both nodes → a pod on node-1 reaches a pod on node-2 by IP and through
a Service ClusterIP → `kubectl logs` and `kubectl exec` reach both nodes' kubelets, which refuse
unauthenticated callers, and a node holds only its own credentials → `docker-compose stop
node-2` → node-2 NotReady → its pods are replaced on node-1 → `docker-compose down -v` leaves no
container, network or volume of the project.

Needs the images of `make compose-images`; runs under its own project name and API port, so it
never touches a cluster a developer started with `make compose-up`.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(900)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TAG = os.environ.get("MINIK8S_IMAGE_TAG", "latest")
IMAGES = (f"minik8s/minik8s:{TAG}", f"minik8s/node:{TAG}", "minik8s/etcd")
NODE_IMAGES = Path.home() / ".minik8s" / "cache" / "node-images.tar"
NS = "compose-e2e"
TIMINGS: dict[str, float] = {}


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if probe.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A small synchronous client from the kubeconfig that `init` writes for the host."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        context = ssl.create_default_context(cadata=ca)
        for key in ("client-certificate-data", "client-key-data"):
            (kubeconfig.parent / key).write_bytes(base64.b64decode(user[key]))
        context.load_cert_chain(
            kubeconfig.parent / "client-certificate-data", kubeconfig.parent / "client-key-data"
        )
        self.http = httpx.Client(base_url=cluster["server"], verify=context, timeout=10)

    def get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def create(self, path: str, body: dict) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def delete(self, path: str) -> Any:
        response = self.http.delete(path)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


class Cluster:
    def __init__(self, compose: list[str], work: Path) -> None:
        self.project = f"minik8s-e2e-{secrets.token_hex(3)}"
        self.work = work
        self.port = free_port()
        self.compose = [*compose, "-p", self.project, "-f", str(DEPLOY / "docker-compose.yml")]
        self.env = {
            **os.environ,
            "MINIK8S_API_PORT": str(self.port),
            "MINIK8S_KUBECONFIG_DIR": str(work),
            "MINIK8S_NODE_IMAGES": str(NODE_IMAGES),
            "MINIK8S_NODE_MONITOR_GRACE": "10s",
            "MINIK8S_POD_EVICTION_TIMEOUT": "5s",
        }
        self.api: Api | None = None

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.compose, *args], capture_output=True, text=True, env=self.env,
            timeout=timeout, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def container(self, service: str) -> str:
        return self.run("ps", "-q", service).stdout.strip()

    def node_docker(self, node: str, *args: str) -> str:
        """`docker ARGS` against the dockerd inside a node container."""
        result = subprocess.run(
            ["docker", "exec", self.container(node), "docker", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"docker {' '.join(args)} on {node}: {result.stderr}"
        return result.stdout

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind, listing in (
            ("container", ["docker", "ps", "-aq", "--filter", label]),
            ("network", ["docker", "network", "ls", "-q", "--filter", label]),
            ("volume", ["docker", "volume", "ls", "-q", "--filter", label]),
        ):
            out = subprocess.run(listing, capture_output=True, text=True, check=True).stdout
            found += [f"{kind} {item}" for item in out.split()]
        return found

    def down(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        self.run("down", "-v", "--remove-orphans", "-t", "10")


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    compose = compose_command()
    if compose is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed")
    missing = [
        image
        for image in IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    assert not missing and NODE_IMAGES.exists(), (
        f"images missing ({', '.join(missing) or NODE_IMAGES}): run `make compose-images`"
    )
    work = Path(tempfile.mkdtemp(prefix="minik8s-compose-"))
    cluster = Cluster(compose, work)
    try:
        started = time.monotonic()
        cluster.run("up", "-d", timeout=600)
        TIMINGS["up -d"] = time.monotonic() - started
        cluster.api = Api(work / "kubeconfig")
        yield cluster
    finally:
        try:
            if request.session.testsfailed:
                for service in ("controller-manager", "node-1", "node-2"):
                    print(f"--- logs {service}")
                    print(cluster.run("logs", "--tail", "40", service).stdout[-6000:])
            cluster.down()
        finally:
            shutil.rmtree(work, ignore_errors=True)
            print("compose timings:", {k: round(v, 1) for k, v in TIMINGS.items()})


def node_ready(node: dict) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pods(api: Api, selector: str) -> list[dict]:
    listing = api.get(f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}")
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def running(pod: dict) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and bool(pod["status"].get("podIP"))


def pod_manifest(name: str, node: str, labels: dict, command: list[str] | None) -> dict:
    container: dict = {"name": "main", "image": "nginx:latest", "imagePullPolicy": "Never"}
    if command:
        container = {**container, "image": "minik8s/busybox:latest", "command": command}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [container]},
    }


def fetch(cluster: Cluster, from_pod: str, node: str, url: str) -> str:
    """`wget` from inside `from_pod` (on `node`): its container in the node's dockerd."""
    ids = cluster.node_docker(
        node, "ps", "-q", "--filter", f"label=minik8s.pod={from_pod}",
        "--filter", "label=minik8s.container=main",
    ).split()  # fmt: skip
    assert ids, f"no container of pod {from_pod} on {node}"
    # (busybox 1.35's `wget -T` crashes: `timeout` bounds it instead)
    return cluster.node_docker(node, "exec", ids[0], "timeout", "5", "wget", "-q", "-O-", url)


def test_both_nodes_ready_with_their_own_pod_cidr(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    started = time.monotonic()

    def ready() -> list[dict]:
        nodes = api.get("/api/v1/nodes")["items"]
        ok = [n for n in nodes if node_ready(n) and n["spec"].get("podCIDR")]
        return nodes if len(ok) == 2 else []

    nodes = wait_for(ready, "node-1 and node-2 Ready with a podCIDR", 240, 1)
    TIMINGS["up to all Ready"] = TIMINGS["up -d"] + time.monotonic() - started
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2"]
    cidrs = {n["spec"]["podCIDR"] for n in nodes}
    assert len(cidrs) == 2 and all(c.startswith("10.245.") for c in cidrs)
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})


def daemon_nodes(api: Api) -> list[str]:
    """Nodes with a Running daemon pod of the DaemonSet `agent`."""
    return sorted(p["spec"]["nodeName"] for p in pods(api, "app=agent") if running(p))


def test_deployment_spreads_over_both_nodes(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    sleeper = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    daemon = {"containers": [{"name": "main", "image": "minik8s/busybox:latest",
                              "imagePullPolicy": "Never", "command": sleeper}]}  # fmt: skip
    api.create(
        f"/apis/apps/v1/namespaces/{NS}/daemonsets",
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
         "spec": {"selector": {"matchLabels": {"app": "agent"}},
                  "template": {"metadata": {"labels": {"app": "agent"}}, "spec": daemon}}},
    )  # fmt: skip
    labels = {"app": "web"}
    api.create(
        f"/apis/apps/v1/namespaces/{NS}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "nginx:latest",
                             "imagePullPolicy": "Never", "ports": [{"containerPort": 80}]}
                        ]
                    },
                },
            },
        },
    )  # fmt: skip
    started = time.monotonic()
    web = wait_for(
        lambda: (lambda ps: ps if len(ps) == 4 and all(map(running, ps)) else None)(
            pods(api, "app=web")
        ),
        "4 web pods Running",
        180,
        1,
    )
    TIMINGS["deployment of 4 Running"] = time.monotonic() - started
    assert {p["spec"]["nodeName"] for p in web} == {"node-1", "node-2"}
    wait_for(lambda: daemon_nodes(api) == ["node-1", "node-2"], "a daemon pod on each node", 60, 1)
    by_node = {p["spec"]["nodeName"]: p for p in web}
    nodes = {n["metadata"]["name"]: n for n in api.get("/api/v1/nodes")["items"]}
    for node, pod in by_node.items():
        network = nodes[node]["spec"]["podCIDR"].rsplit(".", 2)[0]
        assert pod["status"]["podIP"].startswith(network + "."), (node, pod["status"]["podIP"])


def test_pod_to_pod_across_nodes_by_ip_and_through_a_service(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    api.create(
        f"/api/v1/namespaces/{NS}/pods",
        pod_manifest("client", "node-1", {"app": "client"}, ["sleep", "3600"]),
    )
    api.create(
        f"/api/v1/namespaces/{NS}/pods", pod_manifest("web-2", "node-2", {"app": "web-2"}, None)
    )
    api.create(
        f"/api/v1/namespaces/{NS}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web-2"},
            "spec": {"selector": {"app": "web-2"}, "ports": [{"port": 8080, "targetPort": 80}]},
        },
    )
    wait_for(lambda: all(running(p) for p in pods(api, "app in (client,web-2)")) and len(
        pods(api, "app in (client,web-2)")) == 2, "client and web-2 Running", 120, 1)  # fmt: skip
    target = api.get(f"/api/v1/namespaces/{NS}/pods/web-2")["status"]["podIP"]
    page = wait_for(
        lambda: fetch(cluster, "client", "node-1", f"http://{target}/"),
        f"node-1 pod -> node-2 pod {target}",
        30,
        1,
    )
    assert "nginx" in page.lower()
    cluster_ip = api.get(f"/api/v1/namespaces/{NS}/services/web-2")["spec"]["clusterIP"]
    page = wait_for(
        lambda: fetch(cluster, "client", "node-1", f"http://{cluster_ip}:8080/"),
        f"node-1 pod -> Service {cluster_ip}:8080 -> node-2 pod",
        60,
        1,
    )
    assert "nginx" in page.lower()


def test_logs_and_exec_reach_every_node_and_kubelets_refuse_strangers(cluster: Cluster) -> None:
    """The apiserver proxies to both nodes' HTTPS kubelets with its client certificate; a
    request without one is a 401; a node holds its own credentials and nothing else."""
    kubeconfig = str(cluster.work / "kubeconfig")
    for pod, node in (("client", "node-1"), ("web-2", "node-2")):
        logs = subprocess.run(
            ["kubectl", "--kubeconfig", kubeconfig, "-n", NS, "logs", pod, "--tail=5"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert logs.returncode == 0, f"logs of {pod} on {node}: {logs.stderr}"
        command = ["exec", pod, "--", "cat", "/etc/hostname"]
        executed = subprocess.run(
            ["kubectl", "--kubeconfig", kubeconfig, "-n", NS, *command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert executed.returncode == 0 and pod in executed.stdout, (node, executed.stderr)
    node_2 = cluster.api.get("/api/v1/nodes/node-2") if cluster.api else {}
    address = next(a["address"] for a in node_2["status"]["addresses"] if a["type"] == "InternalIP")
    port = node_2["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    refused = subprocess.run(
        ["docker", "exec", cluster.container("node-1"), "python3", "-c",
         "import ssl, urllib.request, urllib.error\n"
         "try:\n"
         f"    urllib.request.urlopen('https://{address}:{port}/exec/{NS}/web-2/main?command=id',"
         " context=ssl._create_unverified_context(), timeout=5)\n"
         "except urllib.error.HTTPError as e:\n"
         "    print(e.code)"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.stdout.strip() == "401", refused
    listing = subprocess.run(
        ["docker", "exec", cluster.container("node-1"), "sh", "-c",
         "echo $(ls -A /etc/minik8s); stat -c '%a %n' /etc/minik8s/*; ls /state 2>&1 || true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    files = listing.stdout.split("\n", 1)[0].split()
    assert sorted(files) == ["ca.crt", "kubelet.conf", "kubelet.crt", "kubelet.key", "proxy.conf"]
    assert all(line.startswith("600 ") for line in listing.stdout.splitlines()[1:6]), listing
    assert "No such file" in listing.stdout  # no shared state volume any more


def test_stopped_node_goes_not_ready_and_its_pods_move(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    started = time.monotonic()
    cluster.run("stop", "-t", "10", "node-2")
    TIMINGS["stop node-2"] = time.monotonic() - started
    wait_for(
        lambda: not node_ready(api.get("/api/v1/nodes/node-2")),
        "node-2 NotReady",
        90,
        1,
    )
    TIMINGS["node-2 NotReady"] = time.monotonic() - started

    def all_on_node_1() -> list[dict]:
        web = pods(api, "app=web")
        ok = len(web) == 4 and all(running(p) and p["spec"]["nodeName"] == "node-1" for p in web)
        return web if ok else []

    wait_for(all_on_node_1, "4 web pods Running on node-1", 180, 1)
    TIMINGS["pods rescheduled to node-1"] = time.monotonic() - started
    assert daemon_nodes(api) == ["node-1", "node-2"]  # it tolerates an unreachable node
    api.delete("/api/v1/nodes/node-2")  # the node leaves the cluster: its daemon pod goes
    wait_for(lambda: [p["spec"]["nodeName"] for p in pods(api, "app=agent")] == ["node-1"],
             "the daemon pod of the deleted node gone", 30, 1)  # fmt: skip

    started = time.monotonic()
    cluster.run("start", "node-2")
    node = wait_for(
        lambda: (lambda n: n if node_ready(n) else None)(api.get("/api/v1/nodes/node-2")),
        "node-2 Ready again",
        90,
        1,
    )
    TIMINGS["node-2 Ready again"] = time.monotonic() - started
    assert node["spec"]["podCIDR"].startswith("10.245.")
    wait_for(lambda: daemon_nodes(api) == ["node-1", "node-2"], "a daemon pod on node-2 again",
             60, 1)  # fmt: skip


def test_down_removes_everything(cluster: Cluster) -> None:
    started = time.monotonic()
    cluster.down()
    TIMINGS["down -v"] = time.monotonic() - started
    assert cluster.leftovers() == []
