"""The seed flow end to end: `minik8s up --nodes 2`, then minikctl as a user types it.

`minikctl run nginx-pod --image=nginx` → scheduled → Running on a real Docker kubelet →
HTTP from the host to the pod IP → logs → delete → the container is gone. Pods on both nodes
find Services by name through the cluster DNS and reach the apiserver through `kubernetes`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.support import clusterdns
from tests.support.launcher import Launcher, launched
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

MINIKCTL = [sys.executable, "-m", "minik8s.cli.minikctl.app"]


def proxy_leftovers() -> list[str]:
    """Our iptables chains and the Service bridge, if any exist on this machine now."""
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    found = sorted({word for word in saved.split() if word.startswith("MINIK8S-")})
    link = subprocess.run(["ip", "link", "show", "minik8s-svc"], capture_output=True, check=False)
    return found + (["minik8s-svc"] if link.returncode == 0 else [])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    clean_before = not proxy_leftovers()  # another cluster's kube-proxy may own them
    with launched(tmp_path_factory.mktemp("seed-home"), "--nodes", "2") as launcher:
        yield launcher
    if clean_before:
        assert proxy_leftovers() == [], "minik8s down must remove kube-proxy's chains and route"


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

    hostname = minikctl(cluster, "exec", "nginx-pod", "--", "cat", "/etc/hostname")
    assert hostname.stdout.strip() == "nginx-pod"
    failing = minikctl(cluster, "exec", "nginx-pod", "--", "sh", "-c", "exit 3", check=False)
    assert failing.returncode == 3, failing.stderr

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


EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def ready_replicas(cluster: Launcher, name: str) -> int:
    out = minikctl(cluster, "get", "deploy", name, "-o", "jsonpath={.status.readyReplicas}").stdout
    return int(out or 0)


def test_deployment_behind_a_service_spreads_balances_scales_and_rolls(cluster: Launcher) -> None:
    manifest = EXAMPLES / "who.yaml"
    out = minikctl(cluster, "apply", "-f", str(manifest)).stdout
    assert "deployment.apps/who created" in out and "service/who created" in out
    status = minikctl(cluster, "rollout", "status", "deploy/who", "--timeout", "120s")
    assert "successfully rolled out" in status.stdout

    wide = minikctl(cluster, "get", "pods", "-l", "app=who", "-o", "wide", "--no-headers").stdout
    nodes = {line.split()[6] for line in wide.splitlines()}
    assert nodes == {"node-1", "node-2"}, f"3 replicas should spread over both nodes: {wide}"
    pod_names = {line.split()[0] for line in wide.splitlines()}

    cluster_ip = minikctl(cluster, "get", "svc", "who", "-o", "jsonpath={.spec.clusterIP}").stdout
    node_port = minikctl(
        cluster, "get", "svc", "who", "-o", "jsonpath={.spec.ports[0].nodePort}"
    ).stdout

    def backends(url: str, requests: int) -> set[str]:
        seen = set()
        with httpx.Client(timeout=2) as http:
            for _ in range(requests):
                seen.add(http.get(url, headers={"Connection": "close"}).text.strip())
        return seen

    # The Service IP is routed to kube-proxy's local bridge: this traffic never leaves the host.
    wait_for(lambda: backends(f"http://{cluster_ip}/", 3), "the ClusterIP to answer", 30)
    assert backends(f"http://{cluster_ip}/", 150) == pod_names
    assert backends(f"http://127.0.0.1:{node_port}/", 150) == pod_names

    # From inside a pod: the Service answers every request, from several backends.
    client_pod = sorted(pod_names)[0]
    fetch = f"for i in $(seq 30); do wget -T 5 -qO- http://{cluster_ip}/; done"
    seen = minikctl(cluster, "exec", client_pod, "--", "sh", "-c", fetch).stdout.split()
    assert len(seen) == 30, f"every request from a pod is answered: {seen}"
    assert set(seen) <= pod_names and len(set(seen)) >= 2, seen

    # Hairpin: a pod reaches itself through a Service whose only endpoint is that pod.
    minikctl(cluster, "label", "pod", client_pod, "hairpin=self")
    minikctl(cluster, "expose", "pod", client_pod, "--name", "who-self", "--port", "80")
    self_ip = minikctl(cluster, "get", "svc", "who-self", "-o", "jsonpath={.spec.clusterIP}")
    fetch_self = f"for i in $(seq 5); do wget -T 3 -qO- http://{self_ip.stdout}/; done"

    def answers_itself() -> bool:
        out = minikctl(cluster, "exec", client_pod, "--", "sh", "-c", fetch_self, check=False)
        return out.stdout.split() == [client_pod] * 5

    wait_for(answers_itself, f"{client_pod} to reach itself through its own Service", 30)
    minikctl(cluster, "delete", "svc", "who-self")

    minikctl(cluster, "scale", "deploy/who", "--replicas=5")
    wait_for(lambda: ready_replicas(cluster, "who") == 5, "5 ready replicas", 90)

    # the controller-manager (its own identity and RBAC) keeps the Service's EndpointSlice
    def ready_in_slices() -> int:
        out = cluster.kubectl(
            "get", "endpointslices", "-l", "kubernetes.io/service-name=who",
            "-o", "jsonpath={.items[*].endpoints[*].conditions.ready}",
        ).stdout  # fmt: skip
        return out.split().count("true")

    wait_for(lambda: ready_in_slices() == 5, "5 ready endpoints in who's EndpointSlices", 30)

    minikctl(cluster, "rollout", "restart", "deploy/who")
    status = minikctl(cluster, "rollout", "status", "deploy/who", "--timeout", "180s")
    assert "successfully rolled out" in status.stdout
    assert ready_replicas(cluster, "who") == 5

    minikctl(cluster, "scale", "deploy/who", "--replicas=0")
    wait_for(lambda: ready_replicas(cluster, "who") == 0, "no ready replicas", 90)

    def refused_fast() -> bool:
        try:
            httpx.get(f"http://{cluster_ip}/", timeout=2)
        except httpx.ConnectError:
            return True
        return False

    assert wait_for(refused_fast, "a Service with no endpoints to refuse at once", 30)
    minikctl(cluster, "delete", "-f", str(manifest))


def test_a_pod_left_running_is_removed_by_down(cluster: Launcher) -> None:
    """`minik8s down` removes the cluster's pod containers (the teardown asserts it)."""
    minikctl(cluster, "run", "leftover", "--image=nginx")

    def running() -> bool:
        phase = "jsonpath={.status.phase}"
        return minikctl(cluster, "get", "pod", "leftover", "-o", phase).stdout == "Running"

    wait_for(running, "leftover to be Running", 90)
    uid = cluster.cluster_uid()
    assert uid and cluster.containers(uid), "the running pod has containers"


def test_the_readme_example_deployment_serves_nginx_through_its_service(cluster: Launcher) -> None:
    manifest = EXAMPLES / "web.yaml"
    minikctl(cluster, "apply", "-f", str(manifest))
    status = minikctl(cluster, "rollout", "status", "deploy/web", "--timeout", "120s")
    assert "successfully rolled out" in status.stdout
    cluster_ip = minikctl(cluster, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}").stdout
    answer = wait_for(
        lambda: httpx.get(f"http://{cluster_ip}/", timeout=2), "the web Service to answer", 30
    )
    assert answer.status_code == 200 and "nginx" in answer.text.lower()
    minikctl(cluster, "delete", "-f", str(manifest))


def test_pods_find_services_by_name_on_both_nodes(cluster: Launcher) -> None:
    """The cluster DNS from pods on node-1 and node-2: short, namespaced and full names,
    headless endpoints with hostnames, SRV, ExternalName, NXDOMAIN, `dnsPolicy: None`, the
    Service variables; the apiserver through the `kubernetes` Service only (its host port,
    on the pods' gateway, is closed to them)."""
    port = cluster.env["MINIK8S_APISERVER_PORT"]
    direct = f"https://10.244.0.1:{port}/version"
    clusterdns.check_pods_find_services_by_name(
        cluster.kubeconfig, {"client-1": direct, "client-2": direct}
    )


CLIENT_IMAGE = "minik8s/python-client:latest"
REPO = Path(__file__).resolve().parents[2]

INCLUSTER_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: incluster-e2e}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: lister, namespace: incluster-e2e}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: incluster-e2e}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
"""

# applied once the pod has been refused
INCLUSTER_BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lister-reads-pods, namespace: incluster-e2e}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: lister, namespace: incluster-e2e}]
"""

# Lists pods until allowed (each answer printed), then tries secrets, which stay forbidden.
INCLUSTER_SCRIPT = """
import socket, sys, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
print('dns', socket.gethostbyname('kubernetes.default.svc.cluster.local'), flush=True)
v1 = client.CoreV1Api()
deadline = time.monotonic() + 120
while True:
    try:
        items = v1.list_namespaced_pod('incluster-e2e').items
    except ApiException as e:
        print('pods', e.status, flush=True)
        if e.status != 403 or time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.5)
        continue
    print('pods 200', ','.join(p.metadata.name for p in items), flush=True)
    break
try:
    v1.list_namespaced_secret('incluster-e2e')
except ApiException as e:
    print('secrets', e.status)
"""


def test_the_official_python_client_in_a_pod_uses_its_service_account(cluster: Launcher) -> None:
    """`load_incluster_config()` in a pod: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount
    token and CA; listing pods is 403 until a RoleBinding grants its Role, then 200 (the
    authorizer follows RBAC objects live); secrets, which the Role does not name, stay 403."""
    inspect = subprocess.run(["docker", "image", "inspect", CLIENT_IMAGE], capture_output=True)
    if inspect.returncode != 0:  # `make test` builds it with the compose images
        build = subprocess.run(["bash", str(REPO / "deploy/images/build.sh"), "python-client"],
                               capture_output=True, text=True, timeout=600)  # fmt: skip
        assert build.returncode == 0, build.stderr
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "lister", "namespace": "incluster-e2e"},
        "spec": {"serviceAccountName": "lister", "restartPolicy": "Never", "containers": [
            {"name": "main", "image": CLIENT_IMAGE, "imagePullPolicy": "Never",
             "command": ["python3", "-c", INCLUSTER_SCRIPT]},
        ]},
    }  # fmt: skip
    manifest = f"{INCLUSTER_MANIFEST}---\n{json.dumps(pod)}\n"
    applied = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
        input=manifest, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    try:

        def phase() -> str:
            return cluster.kubectl("get", "pod", "-n", "incluster-e2e", "lister", "-o",
                                   "jsonpath={.status.phase}").stdout  # fmt: skip

        def logs() -> str:
            return cluster.kubectl("logs", "-n", "incluster-e2e", "lister").stdout

        assert wait_for(lambda: "pods 403" in logs() or phase() in ("Succeeded", "Failed"),
                        "the lister pod refused listing pods", 120)  # fmt: skip
        bound = subprocess.run(
            ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
            input=INCLUSTER_BINDING, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert bound.returncode == 0, bound.stderr
        assert wait_for(lambda: phase() in ("Succeeded", "Failed"), "the lister pod to end", 150)
        output = logs()
        assert phase() == "Succeeded", output
        answers = [line for line in output.splitlines() if line.startswith("pods ")]
        assert answers[0] == "pods 403", output  # before the RoleBinding
        assert set(answers[:-1]) == {"pods 403"} and answers[-1] == "pods 200 lister", output
        assert "dns 10.96.0.1" in output and "secrets 403" in output, output
    finally:
        cluster.kubectl("delete", "namespace", "incluster-e2e", "--timeout=60s")
