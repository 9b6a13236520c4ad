"""Authentication and authorization decisions as pure functions: request attributes, RBAC
rules, the Node authorizer's graph, impersonation, escalation coverage, the bootstrap
policy's reconciliation plan and 403 wording."""

from __future__ import annotations

import pytest

from minik8s.api import errors, rbac
from minik8s.api.resources import NODES, PODS
from minik8s.api.resources import PERSISTENTVOLUMECLAIMS as PVCS
from minik8s.apiserver import requestinfo
from minik8s.apiserver.admission import Request
from minik8s.apiserver.admission.noderestriction import NodeRestriction, forbidden_label
from minik8s.apiserver.authn import impersonation
from minik8s.apiserver.authn.chain import Authenticator, bearer_token
from minik8s.apiserver.authn.tokenfile import TokenFileAuthenticator
from minik8s.apiserver.authn.user import ANONYMOUS_USER, UserInfo
from minik8s.apiserver.authz import forbidden
from minik8s.apiserver.authz.authorizer import Decision, PrivilegedGroups, Union
from minik8s.apiserver.authz.node import NodeAuthorizer, NodeGraph
from minik8s.apiserver.authz.rbac import Snapshot
from minik8s.apiserver.bootstrappolicy import policy, reconcile
from minik8s.kubelet.serverauth import subresource_of

JANE = UserInfo("jane", "", ("devs", "system:authenticated"))
NODE1 = UserInfo("system:node:node-1", "", ("system:nodes", "system:authenticated"))


def attrs(user: UserInfo, method: str, path: str, query: bytes = b"") -> requestinfo.Attributes:
    return requestinfo.parse(user, method, path, query)


@pytest.mark.parametrize(
    "method,path,query,expected",
    [
        ("GET", "/api/v1/namespaces/ns/pods/p/log", b"", ("get", "ns", "", "pods", "log", "p")),
        (
            "GET",
            "/apis/apps/v1/deployments",
            b"watch=1",
            ("watch", "", "apps", "deployments", "", ""),
        ),
        ("GET", "/api/v1/namespaces/ns", b"", ("get", "ns", "", "namespaces", "", "ns")),
        (
            "PUT",
            "/api/v1/namespaces/ns/finalize",
            b"",
            ("update", "ns", "", "namespaces", "finalize", "ns"),
        ),
        (
            "GET",
            "/api/v1/pods",
            b"fieldSelector=metadata.name%3Dp",
            ("list", "", "", "pods", "", "p"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns/pods",
            b"",
            ("deletecollection", "ns", "", "pods", "", ""),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/p/binding",
            b"",
            ("create", "ns", "", "pods", "binding", "p"),
        ),
        ("GET", "/api/v1/watch/namespaces/ns/pods", b"", ("watch", "ns", "", "pods", "", "")),
        ("GET", "/api/v1/nodes/n/proxy/stats/summary", b"", ("get", "", "", "nodes", "proxy", "n")),
    ],
)
def test_request_attributes_as_kubernetes_parses_them(
    method: str, path: str, query: bytes, expected: tuple[str, ...]
) -> None:
    a = attrs(JANE, method, path, query)
    assert a.resource_request
    assert (a.verb, a.namespace, a.api_group, a.resource, a.subresource, a.name) == expected


@pytest.mark.parametrize(
    "path", ["/version", "/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/healthz"]
)
def test_short_paths_are_non_resource(path: str) -> None:
    a = attrs(JANE, "GET", path)
    assert not a.resource_request and a.verb == "get" and a.path == path


def test_a_websocket_exec_is_a_create() -> None:
    a = requestinfo.parse(JANE, "GET", "/api/v1/namespaces/ns/pods/p/exec", b"", websocket=True)
    assert (a.verb, a.subresource) == ("create", "exec")


def snapshot(*objects: dict) -> Snapshot:
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return Snapshot(
        by_kind.get("Role", []),
        [*policy.cluster_roles(), *by_kind.get("ClusterRole", [])],
        by_kind.get("RoleBinding", []),
        [*policy.cluster_role_bindings(), *by_kind.get("ClusterRoleBinding", [])],
    )


def binding(name: str, namespace: str, role_kind: str, role: str, subject: dict) -> dict:
    return {
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": rbac.GROUP, "kind": role_kind, "name": role},
        "subjects": [subject],
    }


def test_rbac_decisions_from_the_subject_index() -> None:
    role = {
        "kind": "Role",
        "metadata": {"name": "pods", "namespace": "dev"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}],
    }
    snap = snapshot(
        role,
        binding("b1", "dev", "Role", "pods", {"kind": "Group", "name": "devs"}),
        binding("b2", "dev", "Role", "missing", {"kind": "User", "name": "jane"}),
        binding(
            "b3",
            "dev",
            "ClusterRole",
            "system:kube-dns",
            {"kind": "ServiceAccount", "name": "robot"},
        ),
    )
    table = snap.table(JANE, "dev")
    assert table.allows(attrs(JANE, "GET", "/api/v1/namespaces/dev/pods/p/log"))
    assert not table.allows(attrs(JANE, "DELETE", "/api/v1/namespaces/dev/pods/p"))
    assert not snap.table(JANE, "prod").allows(attrs(JANE, "GET", "/api/v1/namespaces/prod/pods"))
    assert table.errors == ['role.rbac.authorization.k8s.io "missing" not found']
    robot = UserInfo("system:serviceaccount:dev:robot")
    assert snap.table(robot, "dev").allows(attrs(robot, "GET", "/api/v1/namespaces/dev/services"))
    # everyone authenticated may discover, anonymous only health and version
    assert snap.table(JANE, "").allows(attrs(JANE, "GET", "/apis/apps/v1"))
    anonymous = snap.table(ANONYMOUS_USER, "")
    assert anonymous.allows(attrs(ANONYMOUS_USER, "GET", "/version"))
    assert not anonymous.allows(attrs(ANONYMOUS_USER, "GET", "/api"))
    # the reason names the binding, as Kubernetes' RBAC authorizer words it (audit annotation)
    assert table.allows(attrs(JANE, "GET", "/api/v1/namespaces/dev/pods")) == (
        'RBAC: allowed by RoleBinding "b1/dev" of Role "pods" to Group "devs"'
    )
    assert snap.table(robot, "dev").allows(
        attrs(robot, "GET", "/api/v1/namespaces/dev/services")
    ) == (
        'RBAC: allowed by RoleBinding "b3/dev" of ClusterRole "system:kube-dns" to '
        'ServiceAccount "robot/dev"'
    )
    assert anonymous.allows(attrs(ANONYMOUS_USER, "GET", "/version")) == (
        'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
        '"system:public-info-viewer" to Group "system:unauthenticated"'
    )


def test_wildcards_and_subresource_wildcards() -> None:
    rule = rbac.Rule(("get",), ("*",), ("*/scale",))
    assert rbac.allows_resource(rule, "get", "apps", "deployments", "scale", "d")
    assert not rbac.allows_resource(rule, "get", "apps", "deployments", "", "d")
    named = rbac.Rule(("get",), ("",), ("leases",), ("mine",))
    assert rbac.allows_resource(named, "get", "", "leases", "", "mine")
    assert not rbac.allows_resource(named, "get", "", "leases", "", "")
    assert rbac.allows_path(rbac.Rule(("get",), non_resource_urls=("/apis/*",)), "get", "/apis/x")


def test_coverage_lists_what_is_missing_compactly() -> None:
    owner = [rbac.Rule(("get", "list"), ("",), ("pods",))]
    wanted = [rbac.Rule(("get", "delete"), ("",), ("pods", "secrets"))]
    missing = rbac.compact(rbac.uncovered(owner, wanted))
    assert [r.compact() for r in missing] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete"]}',
    ]
    assert rbac.uncovered(list(rbac.FULL_AUTHORITY), wanted) == []


def test_aggregation_gathers_selected_roles_rules() -> None:
    roles = policy.cluster_roles()
    view = next(r for r in roles if r["metadata"]["name"] == "view")
    rules = rbac.aggregated_rules(view, roles)
    assert rules is not None and any("pods" in r["resources"] for r in rules)
    assert rbac.aggregated_rules(roles[0], roles) is None  # cluster-admin is not aggregated


def graph_with(*pods: dict) -> NodeGraph:
    graph = NodeGraph()
    graph.reset(pods)
    return graph


def pod(name: str, node: str, config_map: str = "cm") -> dict:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {
            "nodeName": node,
            "volumes": [{"name": "v", "configMap": {"name": config_map}}],
            "containers": [
                {
                    "name": "c",
                    "env": [
                        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                    ],
                }
            ],
        },
    }


def test_node_authorizer_follows_pods_bound_to_the_node() -> None:
    graph = graph_with(pod("p1", "node-1"), pod("p2", "node-2", "other"))
    node = NodeAuthorizer(graph)

    def decide(method: str, path: str, query: bytes = b"") -> tuple[Decision, str]:
        return node.authorize(attrs(NODE1, method, path, query))

    assert decide("GET", "/api/v1/namespaces/ns/configmaps/cm")[0] is Decision.ALLOW
    assert decide("GET", "/api/v1/namespaces/ns/secrets/s")[0] is Decision.ALLOW
    denied = decide("GET", "/api/v1/namespaces/ns/configmaps/other")
    assert denied == (
        Decision.NO_OPINION,
        "no relationship found between node 'node-1' and this object",
    )
    assert (
        decide("GET", "/api/v1/pods", b"fieldSelector=spec.nodeName%3Dnode-1")[0] is Decision.ALLOW
    )
    assert decide("GET", "/api/v1/pods")[0] is Decision.NO_OPINION
    assert decide("GET", "/api/v1/nodes/node-2")[1] == (
        "node 'node-1' cannot read 'node-2', only its own Node object"
    )
    assert (
        decide("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1")[0]
        is Decision.ALLOW
    )
    # the pod moves away: the kubelet loses what it used
    graph.on_event(PODS, "DELETE", pod("p1", "node-1"), None)
    assert decide("GET", "/api/v1/namespaces/ns/configmaps/cm")[0] is Decision.NO_OPINION
    assert node.authorize(attrs(JANE, "GET", "/api/v1/nodes"))[0] is Decision.NO_OPINION


def test_node_restriction() -> None:
    plugin = NodeRestriction()
    node2 = {"metadata": {"name": "node-2"}}
    with pytest.raises(
        errors.Forbidden, match='node "node-1" is not allowed to modify node "node-2"'
    ):
        plugin.validate(Request("UPDATE", NODES, None, node2, node2, NODE1))
    own = {"metadata": {"name": "node-1", "labels": {}}, "spec": {}}
    tainted = {**own, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}
    with pytest.raises(errors.Forbidden, match="not allowed to modify taints"):
        plugin.validate(Request("UPDATE", NODES, None, tainted, own, NODE1))
    with pytest.raises(errors.Forbidden, match="can only create mirror pods"):
        plugin.validate(Request("CREATE", PODS, None, pod("x", "node-1"), None, NODE1))
    with pytest.raises(errors.Forbidden, match="can only update pod status"):
        plugin.validate(
            Request("UPDATE", PODS, "status", pod("x", "node-2"), pod("x", "node-2"), NODE1)
        )
    plugin.validate(
        Request("UPDATE", PODS, "status", pod("x", "node-1"), pod("x", "node-1"), NODE1)
    )
    plugin.validate(Request("UPDATE", NODES, None, own, own, JANE))  # not a node: not its business
    assert forbidden_label("node-restriction.kubernetes.io/x")
    assert forbidden_label("example.kubernetes.io/x")
    assert not forbidden_label("kubernetes.io/hostname") and not forbidden_label("minik8s.io/x")


def test_impersonation_checks_each_thing_asked_for() -> None:
    allowed = {("users", "bob"), ("groups", "devs")}

    def authorize(a: requestinfo.Attributes) -> tuple[Decision, str]:
        return (
            (Decision.ALLOW, "") if (a.resource, a.name) in allowed else (Decision.NO_OPINION, "")
        )

    headers = [(b"impersonate-user", b"bob"), (b"impersonate-group", b"devs")]
    assert impersonation.impersonate(JANE, headers, authorize) == UserInfo(
        "bob", "", ("devs", "system:authenticated")
    )
    with pytest.raises(errors.Forbidden, match='cannot impersonate resource "users"'):
        impersonation.impersonate(JANE, [(b"impersonate-user", b"root")], authorize)
    with pytest.raises(errors.BadRequest):
        impersonation.impersonate(JANE, [(b"impersonate-group", b"devs")], authorize)
    account = impersonation.impersonate(
        JANE,
        [(b"impersonate-user", b"system:serviceaccount:ns:sa")],
        lambda a: (Decision.ALLOW, ""),
    )
    assert account.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:ns",
        "system:authenticated",
    )


def test_tokens_non_ascii_and_anonymous() -> None:
    chain = Authenticator([TokenFileAuthenticator({"t0k3n": UserInfo("admin")})], anonymous=True)

    def scope(header: bytes | None) -> dict:
        return {"type": "http", "headers": [(b"authorization", header)] if header else []}

    assert chain.authenticate(scope(b"Bearer t0k3n")) == UserInfo(
        "admin", "", ("system:authenticated",)
    )
    assert chain.authenticate(scope("Bearer h\u00e9llo".encode())) is None
    assert chain.authenticate(scope(b"Bearer ")) == ANONYMOUS_USER
    assert chain.authenticate(scope(None)) == ANONYMOUS_USER
    assert bearer_token(scope(b"Basic abc")) is None


def test_forbidden_messages() -> None:
    a = attrs(JANE, "GET", "/apis/apps/v1/namespaces/dev/deployments/web")
    error = forbidden.forbidden(a, "RBAC: role missing")
    assert error.message == (
        'deployments.apps "web" is forbidden: User "jane" cannot get resource "deployments" in '
        'API group "apps" in the namespace "dev": RBAC: role missing'
    )
    assert error.to_status()["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    path = forbidden.forbidden(attrs(ANONYMOUS_USER, "GET", "/metrics"))
    assert path.message == 'forbidden: User "system:anonymous" cannot get path "/metrics"'


def test_privileged_group_first_then_the_modes_in_order() -> None:
    union = Union([PrivilegedGroups()])
    root = UserInfo("root", "", ("system:masters",))
    assert union.authorize(attrs(root, "DELETE", "/api/v1/nodes/x"))[0] is Decision.ALLOW
    assert union.authorize(attrs(JANE, "DELETE", "/api/v1/nodes/x"))[0] is Decision.NO_OPINION


def test_reconcile_adds_what_a_default_lacks_and_keeps_additions() -> None:
    expected = next(r for r in policy.cluster_roles() if r["metadata"]["name"] == "system:kube-dns")
    edited = {
        **expected,
        "metadata": {**expected["metadata"], "labels": {"mine": "yes"}},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
    }
    plan = reconcile.plan_role(expected, edited)
    assert plan is not None
    assert plan["rules"][0] == edited["rules"][0] and expected["rules"][0] in plan["rules"]
    assert plan["metadata"]["labels"]["mine"] == "yes"
    assert reconcile.plan_role(expected, expected) is None
    opted_out = {**edited, "metadata": {"annotations": {rbac.AUTO_UPDATE_ANNOTATION: "false"}}}
    assert reconcile.plan_role(expected, opted_out) is None


def test_kubelet_paths_map_to_node_subresources() -> None:
    assert subresource_of("/stats/summary") == "stats"
    assert subresource_of("/metrics/cadvisor") == "metrics"
    assert subresource_of("/logs/") == "log"
    assert subresource_of("/containerLogs/ns/p/c") == "proxy"
    assert subresource_of("/exec/ns/p/c") == "proxy"


def test_a_kubelet_reads_the_volume_of_a_claim_its_pod_uses() -> None:
    volume = {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}
    user = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "node-1", "volumes": [volume]},
    }
    claim = {"metadata": {"name": "data", "namespace": "ns"}, "spec": {"volumeName": "pv-1"}}
    graph = NodeGraph()
    graph.reset([user], [claim])
    node = NodeAuthorizer(graph)
    assert (
        node.authorize(attrs(NODE1, "GET", "/api/v1/persistentvolumes/pv-1"))[0] is Decision.ALLOW
    )
    assert (
        node.authorize(attrs(NODE1, "GET", "/api/v1/persistentvolumes/pv-2"))[0]
        is not Decision.ALLOW
    )
    graph.on_event(PVCS, "DELETE", claim, None)
    assert (
        node.authorize(attrs(NODE1, "GET", "/api/v1/persistentvolumes/pv-1"))[0]
        is not Decision.ALLOW
    )


def test_bootstrap_token_auth_adds_kubeadms_join_bindings_and_the_token_writers_roles() -> None:
    """With --enable-bootstrap-token-auth the policy holds what joining needs (kubeadm's
    bootstrap-token phase makes it) and the compose one-shot's two namespaced Roles."""
    plain = {(r.kind, o["metadata"]["name"]) for r, o in reconcile.expected_objects(False)}
    joined = reconcile.expected_objects(True)
    names = {(r.kind, o["metadata"].get("namespace"), o["metadata"]["name"]) for r, o in joined}
    assert ("ClusterRoleBinding", None, "kubeadm:kubelet-bootstrap") in names
    assert ("ClusterRoleBinding", "kubeadm:kubelet-bootstrap") not in plain
    writer = "system:minik8s:bootstrap-token"
    assert {n for n in names if n[2] == writer} == {
        ("Role", "kube-system", writer), ("RoleBinding", "kube-system", writer),
        ("Role", "kube-public", writer), ("RoleBinding", "kube-public", writer),
    }  # fmt: skip
    rules = [o["rules"] for r, o in joined if r.kind == "Role" and o["metadata"]["name"] == writer]
    assert sorted(rule["resources"] + rule["verbs"] for [rule] in rules) == [
        ["configmaps", "create"], ["secrets", "create"],
    ]  # fmt: skip
    assert all(o["apiVersion"] == "rbac.authorization.k8s.io/v1" for _, o in joined)
