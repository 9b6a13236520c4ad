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


DNS_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: dns-e2e}
---
apiVersion: v1
kind: Namespace
metadata: {name: dns-other}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: dns-e2e, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: web-hl
  containers: [{name: main, image: nginx:latest, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: dns-e2e}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-hl, namespace: dns-e2e}
spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: dns-other}
spec: {type: ExternalName, externalName: web.dns-e2e.svc.cluster.local}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: dns-e2e}
spec:
  nodeName: node-1
  containers: [{name: main, image: minik8s/busybox:latest, imagePullPolicy: Never,
                command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client-2, namespace: dns-e2e}
spec:
  nodeName: node-2
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.96.0.10]
    searches: [dns-e2e.svc.cluster.local, svc.cluster.local, cluster.local]
    options: [{name: ndots, value: "2"}]
  containers: [{name: main, image: minik8s/busybox:latest, imagePullPolicy: Never,
                command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
"""

# Each check prints a marker, then what the test looks at.
DNS_SCRIPT = r"""
exec 2>&1
echo; echo "== resolv"; cat /etc/resolv.conf
echo; echo "== nslookup web"; nslookup web
echo; echo "== wget web"; wget -T 5 -qO- http://web/
echo; echo "== wget web.ns"; wget -T 5 -qO- http://web.dns-e2e/
echo; echo "== wget fqdn"; wget -T 5 -qO- http://web.dns-e2e.svc.cluster.local/
echo; echo "== wget other"; wget -T 5 -qO- http://other.dns-other/
echo; echo "== headless"; nslookup web-hl.dns-e2e.svc.cluster.local
echo; echo "== hostname"; nslookup web-0.web-hl.dns-e2e.svc.cluster.local
echo; echo "== srv"; nslookup -type=srv _http._tcp.web.dns-e2e.svc.cluster.local
echo; echo "== nxdomain"; nslookup nothere.dns-e2e.svc.cluster.local
echo; echo "== env"; env | grep -E "^(KUBERNETES|WEB)_SERVICE_(HOST|PORT)="
echo; echo "== anonymous"
wget -T 5 -S -O /dev/null --no-check-certificate https://kubernetes.default.svc/api
echo; echo "== bad token"
wget -T 5 -S -O /dev/null --no-check-certificate --header "Authorization: Bearer nope" \
  https://kubernetes.default.svc/api
echo; echo "== token"
SA=/var/run/secrets/kubernetes.io/serviceaccount
wget -T 5 -qO- --ca-certificate=$SA/ca.crt --header "Authorization: Bearer $(cat $SA/token)" \
  https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api
echo; echo "== version"; wget -T 5 -qO- --no-check-certificate https://$KUBERNETES_SERVICE_HOST/version
echo; echo "== direct"
wget -T 3 -O- --no-check-certificate https://10.244.0.1:$APISERVER_PORT/version; echo "rc=$?"
echo; echo "== end"
"""


def sections(output: str) -> dict[str, str]:
    found: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if line.startswith("== "):
            name = line[3:]
            found[name] = ""
        elif name:
            found[name] += line + "\n"
    return found


def test_pods_find_services_by_name_on_both_nodes(cluster: Launcher) -> None:
    """The cluster DNS from pods on node-1 and node-2: short, namespaced and full names,
    headless endpoints with hostnames, SRV, ExternalName, NXDOMAIN, `dnsPolicy: None`, the
    Service variables; the apiserver through the `kubernetes` Service only."""
    applied = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
        input=DNS_MANIFEST, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    try:
        ready = cluster.kubectl(
            "wait", "-n", "dns-e2e", "--for=condition=Ready", "pod/web-0", "pod/client-1",
            "pod/client-2", "--timeout=90s",
        )  # fmt: skip
        assert ready.returncode == 0, ready.stderr
        jsonpath = "jsonpath={.spec.clusterIP}"
        web_ip = cluster.kubectl("get", "svc", "-n", "dns-e2e", "web", "-o", jsonpath).stdout
        pod_ip = cluster.kubectl("get", "pod", "-n", "dns-e2e", "web-0", "-o",
                                 "jsonpath={.status.podIP}").stdout  # fmt: skip
        port = cluster.env["MINIK8S_APISERVER_PORT"]
        script = f"APISERVER_PORT={port}\n{DNS_SCRIPT}"
        outputs = {}
        for client in ("client-1", "client-2"):
            run = cluster.kubectl("exec", "-n", "dns-e2e", client, "--", "sh", "-c", script)
            outputs[client] = got = sections(run.stdout)
            assert "end" in got, run.stdout + run.stderr
            assert f"Address: {web_ip}" in got["nslookup web"], got
            for fetched in ("wget web", "wget web.ns", "wget fqdn", "wget other"):
                assert "Welcome to nginx" in got[fetched], (client, fetched, got[fetched])
            assert f"Address: {pod_ip}" in got["headless"], got["headless"]
            assert f"Address: {pod_ip}" in got["hostname"], got["hostname"]
            assert "0 100 80 web.dns-e2e.svc.cluster.local" in got["srv"], got["srv"]
            assert "NXDOMAIN" in got["nxdomain"], got["nxdomain"]
            # as Kubernetes: anonymous is authenticated, then forbidden; a bad token is not;
            # the pod's ServiceAccount token and CA (what load_incluster_config reads) work
            assert "403 Forbidden" in got["anonymous"], got["anonymous"]
            assert "401 Unauthorized" in got["bad token"], got["bad token"]
            assert '"kind":"APIVersions"' in got["token"].replace(" ", ""), got["token"]
            assert '"gitVersion"' in got["version"], got["version"]
            direct = got["direct"]
            assert "Connection refused" in direct and "rc=4" in direct, (client, direct)
        first, second = outputs["client-1"], outputs["client-2"]
        assert first["resolv"].strip() == (
            "search dns-e2e.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\noptions ndots:5"
        )
        assert second["resolv"].strip() == (
            "search dns-e2e.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\noptions ndots:2"
        )
        assert f"WEB_SERVICE_HOST={web_ip}" in first["env"]
        assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in first["env"]
        assert "KUBERNETES_SERVICE_PORT=443" in first["env"]
        hosts = cluster.kubectl("exec", "-n", "dns-e2e", "web-0", "--", "cat", "/etc/hosts")
        assert f"{pod_ip}\tweb-0.web-hl.dns-e2e.svc.cluster.local\tweb-0" in hosts.stdout
    finally:
        cluster.kubectl("delete", "namespace", "dns-e2e", "dns-other", "--timeout=60s")


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
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lister-reads-pods, namespace: incluster-e2e}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: ServiceAccount, name: lister, namespace: incluster-e2e}]
"""

INCLUSTER_SCRIPT = """
import socket
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
print('dns', socket.gethostbyname('kubernetes.default.svc.cluster.local'))
v1 = client.CoreV1Api()
print('pods', ','.join(p.metadata.name for p in v1.list_namespaced_pod('incluster-e2e').items))
try:
    v1.list_namespaced_secret('incluster-e2e')
except ApiException as e:
    print('secrets', e.status)
"""


def test_the_official_python_client_in_a_pod_uses_its_service_account(cluster: Launcher) -> None:
    """`load_incluster_config()` in a pod: KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount
    token and CA; it lists what its Role allows (pods) and gets 403 for the rest (secrets)."""
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

        assert wait_for(lambda: phase() in ("Succeeded", "Failed"), "the lister pod to end", 120)
        logs = cluster.kubectl("logs", "-n", "incluster-e2e", "lister").stdout
        assert phase() == "Succeeded", logs
        assert "dns 10.96.0.1" in logs and "pods lister" in logs, logs
        assert "secrets 403" in logs, logs
    finally:
        cluster.kubectl("delete", "namespace", "incluster-e2e", "--timeout=60s")
