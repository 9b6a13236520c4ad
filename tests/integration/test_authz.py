"""Who may do what, judged by real kubectl with real credentials against a real apiserver.

One apiserver with `--authorization-mode=Node,RBAC`, NodeRestriction and `--client-ca-file`;
every identity is a client certificate signed by the cluster CA (as `minik8s up` issues
them) and a kubeconfig of its own. A controller-manager (its own certificate, only the
clusterrole-aggregation controller) fills the aggregated `edit`/`view`/`admin` roles.

The matrix: each component identity (scheduler, controller-manager, kube-proxy,
cloud-controller-manager, DNS, kubelets) can do its job and nothing more; a kubelet credential
cannot touch another node, read a Secret or ConfigMap none of its pods uses, or create a
pod; a user with a RoleBinding to `edit` works in its namespace only. Every case runs the real
kubectl command AND `kubectl auth can-i`, which must agree.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from minik8s import pki
from minik8s.api import bootstraptoken
from minik8s.cli.bootstrap import proxyconfig
from minik8s.client.kubeconfig import kubeconfig_document
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

TEAM, OTHER = "team", "other"
KS = "kube-system"
BOOTSTRAPPERS = bootstraptoken.GROUP
PROXY_CM = "metadata.name=kube-proxy"
WATCH_PROXY_CM = (
    f"/api/v1/namespaces/{KS}/configmaps?watch=1&fieldSelector=metadata.name%3Dkube-proxy"
)


@dataclass
class Cluster:
    server: Apiserver
    work: Path
    token: str

    @property
    def ca(self) -> Path:
        return self.work / "pki" / "ca.crt"

    def kubeconfig(self, name: str, user: str | None, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for `user` in `groups` (a client certificate); None: no credential."""
        path = self.work / f"{name}.conf"
        if path.exists():
            return path
        credential: dict[str, str] = {}
        if user is not None:
            issued = pki.ensure_client_certificate(
                self.ca.parent, user, groups, self.work / f"{name}.crt", self.work / f"{name}.key"
            )
            credential = {
                "client-certificate": str(issued.cert),
                "client-key": str(issued.key),
            }
        config = kubeconfig_document(self.server.url, None, name, credential, ca_file=str(self.ca))
        path.write_text(yaml.safe_dump(config))
        return path

    def kubectl(
        self, who: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.work / f"{who}.conf"), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=30,
            check=False,
        )

    def apply(self, who: str, obj: dict) -> None:
        result = self.kubectl(who, "create", "-f", "-", stdin=json.dumps(obj))
        assert result.returncode == 0, result.stderr

    def can_i(self, who: str, *args: str) -> bool:
        result = self.kubectl(who, "auth", "can-i", *args)
        answer = result.stdout.strip().split()[0] if result.stdout.strip() else ""
        assert answer in ("yes", "no"), (args, result.stdout, result.stderr)
        return answer == "yes"


IDENTITIES = {
    "admin": ("kubernetes-admin", ("system:masters",)),
    "scheduler": ("system:kube-scheduler", ()),
    "controller-manager": ("system:kube-controller-manager", ()),
    "proxy": ("system:kube-proxy", ()),
    "cloud-controller-manager": ("system:cloud-controller-manager", ()),
    "dns": ("system:kube-dns", ()),
    "node-1": ("system:node:node-1", ("system:nodes",)),
    "node-2": ("system:node:node-2", ("system:nodes",)),
    "jane": ("jane", ()),
    "alice": ("alice", ()),
    "bob": ("bob", ()),
    # bootstrap tokens' users and groups (here as certificates: RBAC judges the groups)
    "bootstrap": ("system:bootstrap:abcdef", (BOOTSTRAPPERS, bootstraptoken.DEFAULT_NODE_GROUP)),
    "bootstrap-other": ("system:bootstrap:ghijkl", (BOOTSTRAPPERS, f"{BOOTSTRAPPERS}:other")),
}  # fmt: skip


def pod(name: str, node: str, config_map: str | None = None, secret: str | None = None) -> dict:
    container: dict = {"name": "c", "image": "nginx"}
    if config_map:
        container.setdefault("envFrom", []).append({"configMapRef": {"name": config_map}})
    if secret:
        container.setdefault("envFrom", []).append({"secretRef": {"name": secret}})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {"nodeName": node, "containers": [container]},
    }


@pytest.fixture(scope="module")
def cluster(etcd_server: Etcd) -> Iterator[Cluster]:
    work = temp_dir("minik8s-authz-")
    certs = pki.ensure_serving_certificate(work / "apiserver" / "pki")
    token = secrets.token_hex(16)
    server = Apiserver(
        etcd_server.url,
        work / "apiserver",
        token=token,
        extra_args=[
            f"--client-ca-file={certs.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
        ],
    )
    server.start()
    cluster = Cluster(server, work / "apiserver", token)
    for name, (user, groups) in IDENTITIES.items():
        cluster.kubeconfig(name, user, groups)
    cluster.kubeconfig("anonymous", None)
    manager = ControllerManager(
        cluster.kubeconfig("controller-manager", *IDENTITIES["controller-manager"]),
        work / "controller-manager.log",
        extra_args=["--leader-elect=false", "--controllers=clusterrole-aggregation"],
    )
    manager.start()
    try:
        _populate(cluster)
        yield cluster
    finally:
        manager.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _populate(cluster: Cluster) -> None:
    """Namespaces, nodes (each registered by its own kubelet credential), pods bound to
    them, ConfigMaps and Secrets one of them uses, and the users' bindings."""
    for ns in (TEAM, OTHER):
        assert cluster.kubectl("admin", "create", "namespace", ns).returncode == 0
    for node in ("node-1", "node-2"):
        cluster.apply(node, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    for kind, name, namespace in (
        ("ConfigMap", "cm-used", TEAM),
        ("ConfigMap", "cm-unused", TEAM),
        ("Secret", "secret-used", TEAM),
        ("Secret", "secret-unused", TEAM),
        ("Lease", "minik8s-scheduler", "kube-system"),
        ("Lease", "minik8s-controller-manager", "kube-system"),
        ("ConfigMap", "coredns", KS),
    ):
        version = "coordination.k8s.io/v1" if kind == "Lease" else "v1"
        metadata = {"name": name, "namespace": namespace}
        cluster.apply("admin", {"apiVersion": version, "kind": kind, "metadata": metadata})
    cluster.apply("admin", proxyconfig.configmap("10.244.0.0/16"))
    for resource, obj in proxyconfig.rbac_objects():  # what `minik8s up` publishes for joins
        cluster.apply(
            "admin", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": resource.kind, **obj}
        )
    cluster.apply("admin", pod("p1", "node-1", "cm-used", "secret-used"))
    cluster.apply("admin", pod("p2", "node-2"))
    for who, role in (("jane", "edit"), ("alice", "admin")):
        result = cluster.kubectl(
            "admin", "create", "rolebinding", f"{who}-{role}", f"--clusterrole={role}",
            f"--user={who}", "-n", TEAM,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    wait_for(
        lambda: (
            cluster.can_i("jane", "create", "deployments", "-n", TEAM)
            and cluster.can_i("alice", "create", "rolebindings", "-n", TEAM)
            and cluster.can_i("alice", "get", "pods/log", "-n", TEAM)
        ),
        "the aggregated edit/admin roles to reach jane and alice",
        timeout=20,
        interval=0.2,
    )


# (identity, kubectl command, allowed, `kubectl auth can-i` arguments)
MATRIX: list[tuple[str, list[str], bool, list[str]]] = [
    # the scheduler: reads pods and nodes, binds pods, nothing else
    ("scheduler", ["get", "pods", "-A"], True, ["list", "pods", "-A"]),
    ("scheduler", ["get", "nodes"], True, ["list", "nodes"]),
    ("scheduler", ["get", "lease", "minik8s-scheduler", "-n", "kube-system"], True,
     ["get", "leases/minik8s-scheduler", "-n", "kube-system"]),
    ("scheduler", ["get", "lease", "minik8s-controller-manager", "-n", "kube-system"], False,
     ["get", "leases/minik8s-controller-manager", "-n", "kube-system"]),
    ("scheduler", ["delete", "configmap", "cm-unused", "-n", TEAM], False,
     ["delete", "configmaps", "-n", TEAM]),
    ("scheduler", ["create", "deployment", "x", "--image=nginx", "-n", TEAM], False,
     ["create", "deployments", "-n", TEAM]),
    ("scheduler", ["get", "rolebindings", "-n", TEAM], False, ["list", "rolebindings", "-n", TEAM]),
    # the controller-manager: its controllers' verbs (pods, replicasets, nodes), not RBAC
    ("controller-manager", ["get", "pods", "-A"], True, ["list", "pods", "-A"]),
    ("controller-manager", ["create", "-f", "-"], True, ["create", "pods", "-n", TEAM]),
    ("controller-manager", ["label", "node", "node-1", "zone=a"], True, ["patch", "nodes"]),
    ("controller-manager", ["create", "clusterrolebinding", "x", "--clusterrole=view", "--user=x"],
     False, ["create", "clusterrolebindings"]),
    ("controller-manager", ["auth", "can-i", "watch", "secrets", "-n", TEAM], True,
     ["list", "secrets", "-n", TEAM]),
    ("controller-manager", ["auth", "can-i", "create", "pods", "--subresource=exec", "-n", TEAM],
     False, ["create", "pods", "--subresource=exec", "-n", TEAM]),
    # kube-proxy: services, endpoints and nodes, read-only
    ("proxy", ["get", "services", "-A"], True, ["list", "services", "-A"]),
    ("proxy", ["get", "endpoints", "-A"], True, ["watch", "endpoints", "-A"]),
    ("proxy", ["get", "nodes"], True, ["list", "nodes"]),
    ("proxy", ["get", "pods", "-n", TEAM], False, ["list", "pods", "-n", TEAM]),
    ("proxy", ["create", "service", "clusterip", "x", "--tcp=80", "-n", TEAM], False,
     ["create", "services", "-n", TEAM]),
    # the cloud-controller-manager: Services and their status (load balancers), nodes
    # (initialize, taint, delete), its own Lease; no pods, Secrets, ServiceAccounts or new Services
    ("cloud-controller-manager", ["get", "services", "-A"], True, ["watch", "services", "-A"]),
    ("cloud-controller-manager", ["get", "nodes"], True, ["list", "nodes"]),
    ("cloud-controller-manager", ["auth", "can-i", "patch", "services", "-n", TEAM], True,
     ["patch", "services/status", "-n", TEAM]),
    ("cloud-controller-manager", ["auth", "can-i", "update", "services", "-n", TEAM], False,
     ["create", "services", "-n", TEAM]),
    ("cloud-controller-manager", ["auth", "can-i", "delete", "nodes"], True,
     ["patch", "nodes/status"]),
    ("cloud-controller-manager", ["get", "lease", "minik8s-controller-manager", "-n",
     "kube-system"], False, ["get", "leases/minik8s-controller-manager", "-n", "kube-system"]),
    ("cloud-controller-manager", ["auth", "can-i", "update", "leases/cloud-controller-manager",
     "-n", "kube-system"], True, ["create", "leases", "-n", "kube-system"]),
    ("cloud-controller-manager", ["get", "pods", "-A"], False, ["list", "pods", "-A"]),
    ("cloud-controller-manager", ["get", "secrets", "-n", TEAM], False,
     ["list", "secrets", "-n", TEAM]),
    ("cloud-controller-manager", ["auth", "can-i", "create", "serviceaccounts", "-n", TEAM],
     False, ["create", "serviceaccounts", "-n", TEAM]),
    # the cluster DNS: lists and watches Services and EndpointSlices, nothing else (not even get)
    ("dns", ["get", "services", "-A"], True, ["watch", "services", "-A"]),
    ("dns", ["get", "endpointslices", "-A"], True, ["list", "endpointslices", "-A"]),
    ("dns", ["get", "endpoints", "-A"], False, ["list", "endpoints", "-A"]),
    ("dns", ["get", "--raw", "/api/v1/namespaces/default/services/kubernetes"], False,
     ["get", "services/kubernetes", "-n", "default"]),
    ("dns", ["get", "pods", "-A"], False, ["list", "pods", "-A"]),
    ("dns", ["create", "service", "clusterip", "x", "--tcp=53", "-n", TEAM], False,
     ["create", "services", "-n", TEAM]),
    ("dns", ["get", "secrets", "-n", TEAM], False, ["list", "secrets", "-n", TEAM]),
    ("dns", ["get", "namespaces"], False, ["list", "namespaces"]),
    # a kubelet: its own Node, its pods, what they use; nothing of other nodes
    ("node-1", ["get", "node", "node-1"], True, ["get", "nodes/node-1"]),
    ("node-1", ["get", "node", "node-2"], False, ["get", "nodes/node-2"]),
    ("node-1", ["get", "nodes"], False, ["list", "nodes"]),
    # its node lister: a list (and watch) of its own Node by field selector
    ("node-1", ["get", "nodes", "--field-selector=metadata.name=node-1"], True,
     ["watch", "nodes/node-1"]),
    ("node-1", ["get", "nodes", "--field-selector=metadata.name=node-2"], False,
     ["watch", "nodes/node-2"]),
    ("node-1", ["label", "node", "node-1", "minik8s.io/role=worker"], True,
     ["patch", "nodes/node-1"]),
    ("node-1", ["label", "node", "node-2", "minik8s.io/role=worker"], False, []),
    ("node-1", ["label", "node", "node-1", "node-restriction.kubernetes.io/x=y"], False, []),
    ("node-1", ["get", "configmap", "cm-used", "-n", TEAM], True,
     ["get", "configmaps/cm-used", "-n", TEAM]),
    ("node-1", ["get", "configmap", "cm-unused", "-n", TEAM], False,
     ["get", "configmaps/cm-unused", "-n", TEAM]),
    ("node-1", ["get", "configmaps", "-n", TEAM], False, ["list", "configmaps", "-n", TEAM]),
    ("node-1", ["get", "--raw", f"/api/v1/namespaces/{TEAM}/secrets/s"], False,
     ["get", "secrets/s", "-n", TEAM]),
    ("node-1", ["get", "secret", "secret-used", "-n", TEAM], True,
     ["get", "secrets/secret-used", "-n", TEAM]),
    ("node-1", ["get", "secret", "secret-unused", "-n", TEAM], False,
     ["get", "secrets/secret-unused", "-n", TEAM]),
    ("node-2", ["get", "secret", "secret-used", "-n", TEAM], False,
     ["get", "secrets/secret-used", "-n", TEAM]),
    ("node-1", ["get", "secrets", "-n", TEAM], False, ["list", "secrets", "-n", TEAM]),
    ("node-1", ["run", "x", "--image=nginx", "-n", TEAM], False, []),
    ("node-1", ["get", "pods", "-A"], False, ["list", "pods", "-A"]),
    ("node-1", ["get", "pods", "-A", "--field-selector", "spec.nodeName=node-1"], True, []),
    ("node-1", ["get", "pod", "p1", "-n", TEAM], True, ["get", "pods/p1", "-n", TEAM]),
    ("node-1", ["get", "pod", "p2", "-n", TEAM], False, ["get", "pods/p2", "-n", TEAM]),
    ("node-1", ["replace", "--raw", f"/api/v1/namespaces/{TEAM}/pods/p1/status", "-f", "-"], True,
     ["update", "pods", "--subresource=status", "-n", TEAM]),
    ("node-1", ["replace", "--raw", f"/api/v1/namespaces/{TEAM}/pods/p2/status", "-f", "-"], False,
     []),
    ("node-1", ["delete", "pod", "p2", "-n", TEAM, "--wait=false"], False, []),
    ("node-1", ["get", "lease", "node-2", "-n", "kube-node-lease"], False,
     ["get", "leases/node-2", "-n", "kube-node-lease"]),
    ("node-1", ["auth", "can-i", "create", "tokenreviews"], True, ["create", "tokenreviews"]),
    ("node-1", ["delete", "namespace", OTHER, "--wait=false"], False, ["delete", "namespaces"]),
    # users: jane edits in team only; bob may only ask who he is
    ("jane", ["create", "deployment", "web", "--image=nginx", "-n", TEAM], True,
     ["create", "deployments", "-n", TEAM]),
    ("jane", ["create", "deployment", "web", "--image=nginx", "-n", OTHER], False,
     ["create", "deployments", "-n", OTHER]),
    ("jane", ["auth", "can-i", "get", "secrets", "-n", TEAM], True,
     ["list", "secrets", "-n", TEAM]),
    ("jane", ["create", "rolebinding", "x", "--clusterrole=view", "--user=x", "-n", TEAM], False,
     ["create", "rolebindings", "-n", TEAM]),
    ("jane", ["get", "nodes"], False, ["list", "nodes"]),
    # EndpointSlices: edit reads them but may not write them (Kubernetes dropped endpoint writes
    # from edit for CVE-2021-25740); the controller-manager's endpointslice-controller role may
    ("jane", ["get", "endpointslices", "-n", TEAM], True,
     ["list", "endpointslices.discovery.k8s.io", "-n", TEAM]),
    ("jane", ["create", "-f", "-"], False,
     ["create", "endpointslices.discovery.k8s.io", "-n", TEAM]),
    ("controller-manager", ["auth", "can-i", "update", "endpointslices", "-n", TEAM], True,
     ["delete", "endpointslices.discovery.k8s.io", "-n", TEAM]),
    ("proxy", ["get", "endpointslices", "-A"], True, ["watch", "endpointslices", "-A"]),
    ("proxy", ["auth", "can-i", "create", "endpointslices", "-n", TEAM], False,
     ["create", "endpointslices", "-n", TEAM]),
    ("bob", ["auth", "whoami"], True, ["create", "selfsubjectreviews.authentication.k8s.io"]),
    ("bob", ["get", "pods", "-n", TEAM], False, ["list", "pods", "-n", TEAM]),
    # a joining node's bootstrap token: kubeadm's Role kube-proxy lets it get that one ConfigMap
    ("bootstrap", ["get", "configmap", "kube-proxy", "-n", KS], True,
     ["get", "configmaps/kube-proxy", "-n", KS]),
    ("bootstrap", ["get", "configmap", "coredns", "-n", KS], False,
     ["get", "configmaps/coredns", "-n", KS]),
    ("bootstrap", ["get", "configmaps", "-n", KS], False, ["list", "configmaps", "-n", KS]),
    ("bootstrap", ["get", "configmaps", "-n", KS, f"--field-selector={PROXY_CM}"], False,
     ["list", "configmaps/kube-proxy", "-n", KS]),
    ("bootstrap", ["get", "--raw", WATCH_PROXY_CM], False,
     ["watch", "configmaps/kube-proxy", "-n", KS]),
    ("bootstrap", ["get", "configmap", "kube-proxy", "-n", "kube-public"], False,
     ["get", "configmaps/kube-proxy", "-n", "kube-public"]),
    ("bootstrap-other", ["get", "configmap", "kube-proxy", "-n", KS], False,
     ["get", "configmaps/kube-proxy", "-n", KS]),
]  # fmt: skip


def _status(name: str, node: str) -> str:
    return json.dumps({**pod(name, node), "status": {"phase": "Running"}})


STDIN = {
    "controller-manager": json.dumps(pod("made-by-rs", "node-1")),
    "jane": json.dumps(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "hijack", "namespace": TEAM},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"]}],
        }
    ),
    f"/api/v1/namespaces/{TEAM}/pods/p1/status": _status("p1", "node-1"),
    f"/api/v1/namespaces/{TEAM}/pods/p2/status": _status("p2", "node-2"),
}


@pytest.mark.parametrize(
    "who,command,allowed,can_i",
    MATRIX,
    ids=[
        f"{i:02d}-{who}-{'allow' if ok else 'deny'}-{' '.join(cmd[:2])}"
        for i, (who, cmd, ok, _) in enumerate(MATRIX)
    ],
)
def test_matrix(
    cluster: Cluster, who: str, command: list[str], allowed: bool, can_i: list[str]
) -> None:
    key = who if command[:2] == ["create", "-f"] else command[2] if len(command) > 2 else ""
    stdin = STDIN.get(key)
    result = cluster.kubectl(who, *command, stdin=stdin)
    if command[:2] == ["auth", "can-i"]:
        assert (result.stdout.strip() == "yes") is allowed, result
    elif allowed:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, result.stdout
        assert "Forbidden" in result.stderr or "forbidden" in result.stderr, result.stderr
    if can_i:
        assert cluster.can_i(who, *can_i) is allowed, f"kubectl auth can-i {' '.join(can_i)}"


def test_anonymous_sees_only_health_and_version(cluster: Cluster) -> None:
    with httpx.Client(
        base_url=cluster.server.url, verify=cluster.server.verify, timeout=10
    ) as http:
        for path in ("/version", "/readyz", "/healthz"):
            assert http.get(path).status_code == 200, path
        for path in ("/api", "/apis", f"/api/v1/namespaces/{TEAM}/pods", "/metrics"):
            denied = http.get(path)
            assert denied.status_code == 403, path
            assert 'User "system:anonymous" cannot' in denied.json()["message"]


def test_denials_read_as_kubernetes_writes_them(cluster: Cluster) -> None:
    result = cluster.kubectl("bob", "get", "pods", "-n", TEAM)
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource '
        '"pods" in API group "" in the namespace "team"'
    )
    result = cluster.kubectl("node-1", "get", "node", "node-2")
    assert result.stderr.strip() == (
        'Error from server (Forbidden): nodes "node-2" is forbidden: User "system:node:node-1" '
        'cannot get resource "nodes" in API group "" at the cluster scope: '
        "node 'node-1' cannot read 'node-2', only its own Node object"
    )
    result = cluster.kubectl("node-1", "get", "configmap", "cm-unused", "-n", TEAM)
    assert result.stderr.strip().endswith(
        "no relationship found between node 'node-1' and this object"
    )
    result = cluster.kubectl("node-1", "run", "x", "--image=nginx", "-n", TEAM)
    assert "can only create mirror pods" in result.stderr


def test_escalation_is_refused_without_escalate_or_bind(cluster: Cluster) -> None:
    """alice is `admin` of team: she may grant what she holds there, nothing more."""
    ok = cluster.kubectl(
        "alice", "create", "role", "reader", "--verb=get", "--resource=pods", "-n", TEAM
    )
    assert ok.returncode == 0, ok.stderr
    wider = cluster.kubectl(
        "alice", "create", "role", "nodes", "--verb=list", "--resource=nodes", "-n", TEAM
    )
    assert wider.returncode != 0
    assert (
        'user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions '
        'not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}'
    ) in wider.stderr
    bind_view = cluster.kubectl(
        "alice", "create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob", "-n", TEAM
    )
    assert bind_view.returncode == 0, bind_view.stderr
    bind_admin = cluster.kubectl(
        "alice", "create", "rolebinding", "bob-root", "--clusterrole=cluster-admin", "--user=bob",
        "-n", TEAM,
    )  # fmt: skip
    assert (
        bind_admin.returncode != 0 and "attempting to grant RBAC permissions" in bind_admin.stderr
    )
    wait_for(lambda: cluster.can_i("bob", "list", "pods", "-n", TEAM), "bob's new view binding")
    assert not cluster.can_i("bob", "delete", "pods", "-n", TEAM)


def test_impersonation_needs_the_impersonate_verb(cluster: Cluster) -> None:
    as_jane = cluster.kubectl("admin", "get", "deployments", "-n", TEAM, "--as=jane")
    assert as_jane.returncode == 0, as_jane.stderr
    denied = cluster.kubectl("admin", "get", "deployments", "-n", OTHER, "--as=jane")
    assert 'User "jane" cannot list resource "deployments"' in denied.stderr
    refused = cluster.kubectl("jane", "get", "pods", "-n", TEAM, "--as=bob")
    assert (
        'User "jane" cannot impersonate resource "users" in API group "" at the cluster scope'
        in refused.stderr
    )
    role = ["clusterrole", "impersonate-jane", "--verb=impersonate", "--resource=users"]
    assert cluster.kubectl("admin", "create", *role, "--resource-name=jane").returncode == 0
    binding = ["clusterrolebinding", "bob-impersonates-jane", "--clusterrole=impersonate-jane"]
    assert cluster.kubectl("admin", "create", *binding, "--user=bob").returncode == 0
    wait_for(
        lambda: cluster.kubectl("bob", "get", "pods", "-n", TEAM, "--as=jane").returncode == 0,
        "bob acting as jane",
    )
    whoami = cluster.kubectl("bob", "auth", "whoami", "--as=jane", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "jane"
    assert cluster.kubectl("bob", "get", "pods", "-n", TEAM, "--as=alice").returncode != 0
    assert (
        cluster.can_i(
            "admin", "list", "nodes", "--as=system:node:node-1", "--as-group=system:nodes"
        )
        is False
    )


def test_tokens_token_review_and_non_ascii(cluster: Cluster) -> None:
    url = cluster.server.url
    verify = cluster.server.verify
    with httpx.Client(base_url=url, verify=verify, timeout=10) as http:
        bad = http.get("/api/v1/pods", headers=[(b"Authorization", "Bearer héllo→".encode())])
        assert bad.status_code == 401 and bad.json()["reason"] == "Unauthorized"
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": cluster.token},
        }
        admin = {"Authorization": f"Bearer {cluster.token}"}
        answer = http.post(
            "/apis/authentication.k8s.io/v1/tokenreviews", json=review, headers=admin
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"]["user"]["username"] == "admin"
        assert "system:authenticated" in answer.json()["status"]["user"]["groups"]
        review["spec"]["token"] = "not-a-token"
        answer = http.post(
            "/apis/authentication.k8s.io/v1/tokenreviews", json=review, headers=admin
        )
        assert answer.json()["status"].get("authenticated") is not True


def test_rules_review_lists_what_a_user_may_do(cluster: Cluster) -> None:
    listing = cluster.kubectl("jane", "auth", "can-i", "--list", "-n", TEAM)
    assert listing.returncode == 0, listing.stderr
    rows = listing.stdout.splitlines()
    assert any(r.startswith("deployments.apps ") and "create" in r for r in rows), listing.stdout
    assert any(r.startswith("selfsubjectaccessreviews.authorization.k8s.io") for r in rows)
