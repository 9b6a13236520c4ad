"""The docker-compose cluster end to end (deploy/docker-compose.yml; `make test-compose`).

`docker-compose up -d` with two nodes → both Ready, each with its own podCIDR, initialized by
the cloud controller manager (docker provider) → a 4-replica Deployment spreads over both nodes
→ a pod on node-1 reaches a pod on node-2 by IP and through a Service ClusterIP → pods on both
nodes find Services by name (issue 16's checks, as in the seed flow) and reach the apiserver,
not another node's kubelet → `kubectl logs` and `kubectl exec` reach both nodes' kubelets,
which refuse unauthenticated callers, and a node holds only its own credentials → the
dashboard answers the host and a one-time link signs in, and no node reaches it → a
LoadBalancer Service gets an address the host reaches, served by pods on both nodes →
`docker-compose stop node-2` →
node-2 NotReady (and shut down) → its pods are replaced on node-1 → `docker rm -f` of node-2's
container → its Node is deleted →
`docker-compose down -v` leaves no container, network or volume of the project.

Needs the images of `make compose-images`; runs under its own project name and API port, so it
never touches a cluster a developer started with `make compose-up`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import secrets
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from minik8s.api import meta
from tests.support import clusterdns, compose, controllers
from tests.support.compose import DEPLOY, IMAGES, NODE_IMAGES
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.compose, pytest.mark.timeout(900)]

NS = "compose-e2e"
TIMINGS: dict[str, float] = {}


def etcd_ha_environment() -> dict[str, str]:
    """The variables of deploy/compose/etcd-ha.env."""
    lines = (DEPLOY / "compose" / "etcd-ha.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_pool() -> str:
    """A /28 of 198.51.100.0/24 that no route of this host covers (the pool is routed on the
    host: another compose cluster may hold the default one)."""
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show"], capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    taken = [ipaddress.ip_network(r["dst"], strict=False) for r in routes
             if r.get("dst") not in (None, "default")]  # fmt: skip
    candidates = list(ipaddress.ip_network("198.51.100.0/24").subnets(new_prefix=28))
    random.shuffle(candidates)
    for pool in candidates:
        if not any(pool.overlaps(network) for network in taken):
            return str(pool)
    raise AssertionError("no free /28 of 198.51.100.0/24 for the load balancer pool")


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

    def status(self, path: str) -> int:
        return self.http.get(path).status_code

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
        self.dashboard_port = free_port()
        self.compose = [*compose, "-p", self.project, "-f", str(DEPLOY / "docker-compose.yml")]
        self.env = {
            **os.environ,
            "MINIK8S_API_PORT": str(self.port),
            "MINIK8S_DASHBOARD_PORT": str(self.dashboard_port),
            "MINIK8S_KUBECONFIG_DIR": str(work),
            "MINIK8S_NODE_IMAGES": str(NODE_IMAGES),
            "MINIK8S_NODE_MONITOR_GRACE": "10s",
            "MINIK8S_POD_EVICTION_TIMEOUT": "5s",
            "MINIK8S_DNS_UPSTREAM": "none",  # the DNS never asks a real resolver here
            "MINIK8S_LB_POOL": free_pool(),
            # Three etcd members (the etcd-ha profile): one is stopped during a rollout.
            **etcd_ha_environment(),
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
    with compose.started(
        request, Cluster, images=IMAGES, work_prefix="minik8s-compose-", up_timeout=600,
        timings=TIMINGS, timings_label="compose timings",
        log_services=("controller-manager", "cloud-controller-manager", "node-1", "node-2"),
        log_tail=40, log_chars=6000,
    ) as cluster:  # fmt: skip
        cluster.api = Api(cluster.work / "kubeconfig")
        yield cluster


def node_ready(node: dict) -> bool:
    return meta.condition_is_true(node, "Ready")


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
    return cluster.node_docker(node, "exec", ids[0], "wget", "-T", "5", "-q", "-O-", url)


def test_both_nodes_ready_with_their_own_pod_cidr(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    started = time.monotonic()

    def ready() -> list[dict]:
        nodes = api.get("/api/v1/nodes")["items"]
        ok = [
            n
            for n in nodes
            if node_ready(n) and n["spec"].get("podCIDR") and n["spec"].get("providerID")
        ]
        return nodes if len(ok) == 2 else []

    # the cloud controller manager initializes a node (providerID) independently of Ready
    nodes = wait_for(ready, "node-1 and node-2 Ready, with a podCIDR and a providerID", 240, 1)
    TIMINGS["up to all Ready"] = TIMINGS["up -d"] + time.monotonic() - started
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-1", "node-2"]
    cidrs = {n["spec"]["podCIDR"] for n in nodes}
    assert len(cidrs) == 2 and all(c.startswith("10.245.") for c in cidrs)
    for node in nodes:  # initialized by the cloud controller manager: the container is the VM
        assert node["spec"]["providerID"].startswith("docker://")
        assert not [t for t in node["spec"].get("taints") or [] if "uninitialized" in t["key"]]
        assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "container"
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


def in_pod(cluster: Cluster, pod: str, node: str, script: str) -> str:
    """`sh -c script` in `pod`'s main container on `node`; its output, errors included."""
    ids = cluster.node_docker(
        node, "ps", "-q", "--filter", f"label=minik8s.pod={pod}",
        "--filter", "label=minik8s.container=main",
    ).split()  # fmt: skip
    assert ids, f"no container of pod {pod} on {node}"
    return cluster.node_docker(node, "exec", ids[0], "sh", "-c", f"exec 2>&1; {script}; true")


def test_pods_find_services_by_name_and_reach_only_the_cluster(cluster: Cluster) -> None:
    """Issue 16's checks as in the seed flow (tests/support/clusterdns.py), from pods on both
    nodes: the DNS (a control-plane container behind kube-dns), the apiserver through the
    `kubernetes` Service, the other node's kubelet closed; and glibc's resolver (nginx's
    `getent`) on node-2 finding a Service of another pod's namespace."""
    api = cluster.api
    assert api is not None
    kubelets = {
        node["metadata"]["name"]: next(
            a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"
        )
        for node in api.get("/api/v1/nodes")["items"]
    }
    clusterdns.check_pods_find_services_by_name(
        cluster.work / "kubeconfig",
        {"client-1": f"https://{kubelets['node-2']}:10250/pods",
         "client-2": f"https://{kubelets['node-1']}:10250/pods"},
    )  # fmt: skip
    cluster_ip = api.get(f"/api/v1/namespaces/{NS}/services/web-2")["spec"]["clusterIP"]
    name = f"web-2.{NS}.svc.cluster.local"
    web_on_2 = next(p for p in pods(api, "app=web") if p["spec"]["nodeName"] == "node-2")
    found = in_pod(cluster, web_on_2["metadata"]["name"], "node-2", "getent hosts web-2")
    assert found.split()[:2] == [cluster_ip, name], found


def test_nodes_cannot_reach_etcd(cluster: Cluster) -> None:
    """Issue 15: etcd is on a network of its own (the members and the apiserver); a node
    (hence its pods) can neither resolve nor reach it, and the apiserver reaches it only
    over TLS with its client certificate."""
    assert_unreachable_from_node(cluster, "etcd-1", 2379)
    mounts = subprocess.run(
        ["docker", "inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}",
         cluster.container("node-1")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "/etcd-pki" not in mounts


def assert_unreachable_from_node(cluster: Cluster, service: str, port: int) -> None:
    """node-1 (hence its pods, whose traffic leaves through it) can neither resolve `service`
    nor connect to `port` on any of its container's addresses."""
    addresses = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
         cluster.container(service)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert addresses, f"{service} has no address"
    probe = (
        "import socket, sys\n"
        "for host in sys.argv[2:]:\n"
        "    try:\n"
        "        socket.create_connection((host, int(sys.argv[1])), timeout=3).close()\n"
        "        print('reached', host)\n"
        "    except OSError as e:\n"
        "        print('refused', host, e)\n"
    )
    result = subprocess.run(
        ["docker", "exec", cluster.container("node-1"), "python3", "-c", probe, str(port),
         service, *addresses],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert "reached" not in result.stdout, result.stdout
    assert result.stdout.count("refused") == 1 + len(addresses), result.stdout


def test_no_running_container_holds_etcds_ca_key(cluster: Cluster) -> None:
    """Whoever gets into the apiserver or an etcd member cannot mint etcd certificates: no file
    under any of their mounts holds the key of etcd's CA (`init`, exited, keeps it in `pki`);
    the members have their serving certificate, the apiserver its client certificate, and the
    apiserver reaches etcd with them."""
    apiserver = compose.mounted_files(cluster.container("apiserver"))
    ca = apiserver["/etcd-pki/ca.crt"]
    assert {p for p in apiserver if p.startswith("/etcd-pki/")} == {
        "/etcd-pki/ca.crt", "/etcd-pki/apiserver-etcd-client.crt",
        "/etcd-pki/apiserver-etcd-client.key",
    }  # fmt: skip
    member = compose.mounted_files(cluster.container("etcd-1"))
    assert {p for p in member if p.startswith("/etcd-pki/")} == {
        "/etcd-pki/ca.crt", "/etcd-pki/server.crt", "/etcd-pki/server.key",
    }  # fmt: skip
    for service, files in (("apiserver", apiserver), ("etcd-1", member)):
        assert compose.holders_of_key(files, ca) == [], service
    init = compose.mounted_files(cluster.run("ps", "-a", "-q", "init").stdout.strip())
    assert compose.holders_of_key(init, ca) == ["/state/pki/etcd/ca.key"]  # the check sees it
    api = cluster.api
    assert api is not None
    written = api.create(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "etcd-reached"}}
    )
    assert written["metadata"]["resourceVersion"]
    api.delete("/api/v1/namespaces/default/configmaps/etcd-reached")


def in_container(cluster: Cluster, service: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", cluster.container(service), *command],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip


def test_service_account_tokens_secrets_encrypted_and_audited(cluster: Cluster) -> None:
    """As `minik8s up`: a pod's mounted ServiceAccount token (signed with the key `init` made)
    authenticates from the host; a Secret is `k8s:enc:aescbc` in etcd; the apiserver audits
    every request into its own volume; the keys and the audit log are 0600, and only the
    apiserver holds them."""
    api = cluster.api
    assert api is not None
    kubeconfig = str(cluster.work / "kubeconfig")
    token = subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, "-n", NS, "exec", "client", "--", "cat",
         "/var/run/secrets/kubernetes.io/serviceaccount/token"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert token.returncode == 0 and token.stdout.count(".") == 2, token
    config = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]
    ca_file = cluster.work / "ca.crt"
    ca_file.write_bytes(base64.b64decode(config["certificate-authority-data"]))
    (cluster.work / "empty").write_text("")
    whoami = subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.work / "empty"), "--server", config["server"],
         "--certificate-authority", str(ca_file), "--token", token.stdout.strip(),
         "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert whoami.stdout == f"system:serviceaccount:{NS}:default", whoami

    secret = {"metadata": {"name": "at-rest"}, "stringData": {"password": "plain-text-42"}}
    api.create(f"/api/v1/namespaces/{NS}/secrets", secret)
    # etcd's gRPC KV API, from the apiserver container: the only client with a certificate
    # of etcd's CA (the etcd image has no etcdctl; etcd 3.4's JSON gateway fails under
    # --client-cert-auth).
    read = (
        "import grpc, sys\n"
        "from aetcd import rpc\n"
        "r = lambda name: open('/etcd-pki/' + name, 'rb').read()\n"
        "tls = grpc.ssl_channel_credentials(r('ca.crt'), r('apiserver-etcd-client.key'),"
        " r('apiserver-etcd-client.crt'))\n"
        "kv = rpc.KVStub(grpc.secure_channel('etcd-1:2379', tls))\n"
        f"got = kv.Range(rpc.RangeRequest(key=b'/registry/secrets/{NS}/at-rest'), timeout=10)\n"
        "sys.stdout.buffer.write(got.kvs[0].value)\n"
    )
    raw = in_container(cluster, "apiserver", "python3", "-c", read)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.startswith(b"k8s:enc:aescbc:v1:key1:"), raw.stdout[:40]
    assert b"plain-text-42" not in raw.stdout and b"cGxhaW4tdGV4dC00Mg" not in raw.stdout
    assert api.get(f"/api/v1/namespaces/{NS}/secrets/at-rest")["data"]["password"] == (
        base64.b64encode(b"plain-text-42").decode()
    )

    modes = in_container(
        cluster, "apiserver", "stat", "-c", "%a %n", "/etc/minik8s/sa.key",
        "/etc/minik8s/encryption-config.yaml", "/var/log/minik8s/audit.log",
    )  # fmt: skip
    assert modes.returncode == 0 and all(
        line.startswith("600 ") for line in modes.stdout.decode().splitlines()
    ), modes
    audited = in_container(cluster, "apiserver", "grep", "-c", '"name":"at-rest"',
                           "/var/log/minik8s/audit.log")  # fmt: skip
    assert int(audited.stdout or 0) >= 1, audited
    for service in ("controller-manager", "node-1"):
        listing = in_container(cluster, service, "ls", "-A", "/etc/minik8s")
        assert not {"sa.key", "encryption-config.yaml"} & set(listing.stdout.decode().split())


def test_the_dashboard_answers_the_host_and_a_one_time_link_signs_in(cluster: Cluster) -> None:
    """`make compose-dashboard`: the host's kubeconfig on stdin of `exec dashboard`, a one-time
    link on 127.0.0.1 back; it signs the admin in (then it is spent), and the architecture
    view's stream carries the apiserver's audit webhook."""
    base = f"http://127.0.0.1:{cluster.dashboard_port}"
    wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, "the dashboard", 60, 1)
    link = subprocess.run(
        [*cluster.compose, "exec", "-T", "dashboard", "python3", "-m", "minik8s.dashboard.signin",
         "--grant-dir=/run/minik8s-dashboard/grants"],
        input=(cluster.work / "kubeconfig").read_text(), capture_output=True, text=True,
        env=cluster.env, timeout=60, check=False,
    )  # fmt: skip
    assert link.returncode == 0 and link.stdout.startswith(f"{base}/login?code="), link
    with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as browser:
        signed_in = browser.get(link.stdout.strip())
        assert signed_in.status_code == 200 and signed_in.url.path == "/", signed_in
        assert browser.get("/api/session").json()["user"] == "kubernetes-admin"
        deadline, seen = time.monotonic() + 30, ""
        with browser.stream("GET", "/api/flow", timeout=30) as flow:
            for chunk in flow.iter_text():  # keepalives every 15 s: the loop sees the clock
                seen += chunk
                if '"kind":"request"' in seen or time.monotonic() > deadline:
                    break
        assert '"audit":true' in seen and '"kind":"request"' in seen, seen[:300]
    spent = httpx.get(link.stdout.strip(), follow_redirects=False)
    assert spent.status_code == 401
    # The dashboard shares a network with the apiserver alone: no node (nor its pods) reaches it.
    assert_unreachable_from_node(cluster, "dashboard", 9090)


def test_rollout_survives_losing_an_etcd_member(cluster: Cluster) -> None:
    """etcd-ha: the apiserver uses every --etcd-servers endpoint; stopping the member it uses
    in the middle of a rollout costs a failover, and the rollout completes."""
    api = cluster.api
    assert api is not None
    path = f"/apis/apps/v1/namespaces/{NS}/deployments/web"
    response = api.http.patch(
        path,
        json={"spec": {"template": {"metadata": {"annotations": {"rollout": "etcd-ha"}}}}},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    started = time.monotonic()
    cluster.run("stop", "-t", "5", "etcd-1")

    def updated(pod: dict) -> bool:
        annotations = pod["metadata"].get("annotations") or {}
        return running(pod) and annotations.get("rollout") == "etcd-ha"

    def rolled_out() -> bool:
        return controllers.rolled_out(api.get(path), pods(api, "app=web"), 4, updated)

    wait_for(rolled_out, "the rollout to complete on two etcd members of three", 180, 1)
    TIMINGS["rollout with etcd-1 stopped"] = time.monotonic() - started
    cluster.run("start", "etcd-1")


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
    # The node joined with a bootstrap token: it mounts only the token and the CA's hash (0600);
    # its kubelet's client certificate was issued through a CSR (TLS bootstrapping).
    listing = subprocess.run(
        ["docker", "exec", cluster.container("node-1"), "sh", "-c",
         "echo $(ls -A /etc/minik8s); stat -c '%a %n' /etc/minik8s/*; ls /state 2>&1 || true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    files = listing.stdout.split("\n", 1)[0].split()
    assert sorted(files) == ["ca-cert-hash", "token"], listing
    assert all(line.startswith("600 ") for line in listing.stdout.splitlines()[1:3]), listing
    assert "No such file" in listing.stdout  # no shared state volume any more
    csrs = (cluster.api.get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
            if cluster.api else {"items": []})  # fmt: skip
    kubelet_client = "kubernetes.io/kube-apiserver-client-kubelet"
    requestors = {c["spec"].get("username") for c in csrs["items"]
                  if c["spec"]["signerName"] == kubelet_client}  # fmt: skip
    assert any(r and r.startswith("system:bootstrap:") for r in requestors), requestors


def test_load_balancer_answers_the_host_from_pods_on_both_nodes(cluster: Cluster) -> None:
    api = cluster.api
    assert api is not None
    spec = {"type": "LoadBalancer", "selector": {"app": "web"},
            "ports": [{"port": 8080, "targetPort": 80}]}  # fmt: skip
    api.create(f"/api/v1/namespaces/{NS}/services",
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-lb"},
                "spec": spec})  # fmt: skip
    started = time.monotonic()

    def address() -> str | None:
        status = api.get(f"/api/v1/namespaces/{NS}/services/web-lb")["status"]
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        return ingress[0]["ip"] if ingress else None

    ip = wait_for(address, "an address for web-lb", 30, 0.2)
    TIMINGS["load balancer address"] = time.monotonic() - started
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(cluster.env["MINIK8S_LB_POOL"])
    url = f"http://{ip}:8080/"
    wait_for(lambda: "nginx" in get(url).lower(), f"{url} from the host", 60, 0.5)
    TIMINGS["load balancer answers"] = time.monotonic() - started
    web = pods(api, "app=web")
    assert {p["spec"]["nodeName"] for p in web} == {"node-1", "node-2"}, "a web pod on each node"

    def unlisted() -> set[str]:  # web pods not (yet) ready endpoints of web-lb
        endpoints = api.get(f"/api/v1/namespaces/{NS}/endpoints/web-lb")
        ready = {a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []}
        return {p["metadata"]["name"] for p in web if p["status"].get("podIP") not in ready}

    wait_for(lambda: not unlisted(), "every web pod a ready endpoint of web-lb", 60, 0.5,
             lambda: f"not listed: {sorted(unlisted())}; {readiness(api)}")  # fmt: skip
    served: dict[str, int] = {}

    def both_served() -> bool:  # the proxies program the endpoints asynchronously
        for _ in range(20):
            assert "nginx" in get(url).lower()
        served.clear()
        for pod in web:
            node = pod["spec"]["nodeName"]
            ids = cluster.node_docker(node, "ps", "-q", "--filter",
                                      f"label=minik8s.pod={pod['metadata']['name']}", "--filter",
                                      "label=minik8s.container=main").split()  # fmt: skip
            log = cluster.node_docker(node, "logs", ids[0])  # nginx logs requests to its stdout
            served[node] = served.get(node, 0) + log.count('"GET / HTTP/1.1" 200')
        return bool(served.get("node-1") and served.get("node-2"))

    wait_for(both_served, "requests to web-lb served by pods on both nodes", 30, 0.5,
             lambda: f"served: {served}; {readiness(api)}")  # fmt: skip


def readiness(api: Api) -> str:
    """Each web pod's node, IP and Ready condition: what a failed endpoint wait reports."""

    def ready(pod: dict) -> str:
        conditions = pod["status"].get("conditions") or []
        return next((f"{c['status']}/{c.get('reason', '')}" for c in conditions
                     if c["type"] == "Ready"), "?")  # fmt: skip

    return ", ".join(f"{p['metadata']['name']}@{p['spec']['nodeName']} "
                     f"{p['status'].get('podIP')} Ready={ready(p)}"
                     for p in pods(api, "app=web"))  # fmt: skip


def get(url: str) -> str:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return ""


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

    def shut_down() -> bool:  # the cloud controller manager: its container is stopped
        taints = api.get("/api/v1/nodes/node-2")["spec"].get("taints") or []
        return any(t["key"] == "node.cloudprovider.kubernetes.io/shutdown" for t in taints)

    wait_for(shut_down, "node-2's shutdown taint", 30, 1)

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


def test_a_removed_node_container_takes_its_node_away(cluster: Cluster) -> None:
    """The cloud node lifecycle controller deletes a NotReady Node whose container is gone;
    the pod garbage collector removes its pods, which run on the other node again; the load
    balancer keeps answering from there."""
    api = cluster.api
    assert api is not None
    scaled = api.http.patch(
        f"/apis/apps/v1/namespaces/{NS}/deployments/web", json={"spec": {"replicas": 6}},
        headers={"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert scaled.status_code == 200, scaled.text

    def some_on_node_2() -> list[dict]:
        web = [p for p in pods(api, "app=web") if running(p)]
        return web if len(web) == 6 and any(p["spec"]["nodeName"] == "node-2" for p in web) else []

    wait_for(some_on_node_2, "6 web pods Running, some on node-2", 120, 1)
    container = cluster.container("node-2")
    started = time.monotonic()
    subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=120, check=True)
    wait_for(lambda: api.status("/api/v1/nodes/node-2") == 404, "the Node node-2 deleted", 60, 1)
    TIMINGS["node-2 container removed -> Node deleted"] = time.monotonic() - started
    events = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=node-2")
    assert any(e["reason"] == "DeletingNode" for e in events["items"])
    ip = api.get(f"/api/v1/namespaces/{NS}/services/web-lb")["status"]["loadBalancer"]
    url = f"http://{ip['ingress'][0]['ip']}:8080/"
    wait_for(lambda: "nginx" in get(url).lower(), f"{url} served from node-1 alone", 60, 0.5)

    def all_on_node_1() -> bool:
        listing = api.get(f"/api/v1/namespaces/{NS}/pods")["items"]
        web = [p for p in pods(api, "app=web") if running(p)]
        gone = not [p for p in listing if p["spec"].get("nodeName") == "node-2"]  # podgc's
        return gone and len(web) == 6 and all(p["spec"]["nodeName"] == "node-1" for p in web)

    wait_for(all_on_node_1, "node-2's pods deleted and 6 web pods Running on node-1", 120, 1)
    TIMINGS["node-2 container removed -> its pods gone, replaced on node-1"] = (
        time.monotonic() - started
    )


def test_down_removes_everything(cluster: Cluster) -> None:
    started = time.monotonic()
    cluster.down()
    TIMINGS["down -v"] = time.monotonic() - started
    assert cluster.leftovers() == []
