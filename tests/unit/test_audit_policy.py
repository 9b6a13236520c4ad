"""The audit policy: Kubernetes' rule matching and validation (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minik8s.apiserver.audit import policy
from minik8s.apiserver.audit.policy import Policy, parse_policy
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes, parse

JANE = UserInfo("jane", "", ("devs", "system:authenticated"))
NODE = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))


def doc(*rules: dict, **extra: object) -> dict:
    return {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": list(rules), **extra}


def level(p: Policy, user: UserInfo | None, method: str, path: str, query: bytes = b"") -> str:
    return p.evaluate(user, parse(user or JANE, method, path, query)).level


def test_first_matching_rule_wins_and_no_match_is_none() -> None:
    p = parse_policy(
        doc(
            {"level": "None", "users": ["system:node:n1"]},
            {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]},
            {"level": "Metadata", "userGroups": ["devs"]},
        )
    )
    assert level(p, NODE, "GET", "/api/v1/namespaces/a/secrets/s") == "None"
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/secrets/s") == "RequestResponse"
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/pods") == "Metadata"
    assert level(p, UserInfo("bob"), "GET", "/api/v1/namespaces/a/pods") == "None"
    # a request whose authentication failed has no user: rules naming users or groups miss
    assert level(p, None, "GET", "/api/v1/namespaces/a/pods") == "None"


def test_verbs_namespaces_and_cluster_scope() -> None:
    p = parse_policy(
        doc(
            {"level": "Request", "verbs": ["create", "delete"], "namespaces": ["prod"]},
            {"level": "Metadata", "namespaces": [""]},
        )
    )
    assert level(p, JANE, "POST", "/api/v1/namespaces/prod/pods") == "Request"
    assert level(p, JANE, "GET", "/api/v1/namespaces/prod/pods") == "None"
    assert level(p, JANE, "GET", "/api/v1/nodes") == "Metadata"  # "" = cluster-scoped
    assert level(p, JANE, "GET", "/api/v1/namespaces/dev/pods") == "None"
    assert level(p, JANE, "GET", "/version") == "None"  # namespaces: resource requests only


@pytest.mark.parametrize(
    ("spec", "path", "matches"),
    [
        ("pods", "/api/v1/namespaces/a/pods/p", True),
        ("pods", "/api/v1/namespaces/a/pods/p/log", False),
        ("pods/log", "/api/v1/namespaces/a/pods/p/log", True),
        ("pods/*", "/api/v1/namespaces/a/pods/p/status", True),
        ("pods/*", "/api/v1/namespaces/a/pods/p", True),  # checker.go matches the pod too
        ("*/scale", "/apis/apps/v1/namespaces/a/deployments/d/scale", False),  # group "" only
        ("*", "/api/v1/namespaces/a/pods/p/log", True),
        ("*", "/apis/apps/v1/namespaces/a/deployments/d", False),
    ],
)
def test_resource_patterns(spec: str, path: str, matches: bool) -> None:
    p = parse_policy(doc({"level": "Metadata", "resources": [{"resources": [spec]}]}))
    assert (level(p, JANE, "GET", path) == "Metadata") is matches


def test_groups_subresource_wildcards_and_resource_names() -> None:
    p = parse_policy(
        doc(
            {"level": "Request", "resources": [{"group": "apps", "resources": ["*/scale"]}]},
            {
                "level": "Metadata",
                "resources": [{"resources": ["configmaps"], "resourceNames": ["cfg"]}],
            },
            {"level": "RequestResponse", "resources": [{"group": "rbac.authorization.k8s.io"}]},
        )
    )
    assert level(p, JANE, "PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale") == "Request"
    assert level(p, JANE, "GET", "/apis/apps/v1/namespaces/a/deployments/d") == "None"
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/configmaps/cfg") == "Metadata"
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/configmaps/other") == "None"
    # a list names nothing, unless its field selector does (as Kubernetes' RequestInfo)
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/configmaps") == "None"
    query = b"fieldSelector=metadata.name%3Dcfg"
    assert level(p, JANE, "GET", "/api/v1/namespaces/a/configmaps", query) == "Metadata"
    path = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    assert level(p, JANE, "POST", path) == "RequestResponse"


def test_non_resource_urls() -> None:
    p = parse_policy(
        doc(
            {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
            {"level": "Metadata", "nonResourceURLs": ["*"]},
        )
    )
    assert level(p, JANE, "GET", "/healthz") == "None"
    assert level(p, JANE, "GET", "/healthz/etcd") == "None"
    assert level(p, JANE, "GET", "/version") == "None"
    assert level(p, JANE, "GET", "/metrics") == "Metadata"
    assert level(p, JANE, "GET", "/api/v1/pods") == "None"  # a resource request


def test_stages_and_managed_fields_merge_with_the_policy_defaults() -> None:
    p = parse_policy(
        doc(
            {"level": "Metadata", "users": ["jane"], "omitStages": ["ResponseStarted"]},
            {"level": "Request", "omitManagedFields": False},
            omitStages=["RequestReceived"],
            omitManagedFields=True,
        )
    )
    jane = p.evaluate(JANE, parse(JANE, "GET", "/api/v1/pods"))
    assert jane.omit_stages == {"RequestReceived", "ResponseStarted"}
    assert jane.omit_managed_fields is True
    other = p.evaluate(NODE, parse(NODE, "GET", "/api/v1/pods"))
    assert other.omit_stages == {"RequestReceived"}
    assert other.omit_managed_fields is False


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(), "loaded illegal policy with 0 rules"),
        ({**doc({"level": "None"}), "apiVersion": "audit.k8s.io/v1beta1"}, "unknown group version"),
        (doc({"level": "Everything"}), 'rules[0].level: Unsupported value: "Everything"'),
        (doc({"users": ["x"]}), "rules[0].level: Required value"),
        (
            doc({"level": "None", "nonResourceURLs": ["healthz"]}),
            "non-resource URL rules must begin with a '/' character",
        ),
        (
            doc({"level": "None", "nonResourceURLs": ["/a*/b"]}),
            "non-resource URL wildcards '*' must be the final character of the rule",
        ),
        (
            doc({"level": "None", "nonResourceURLs": ["/x"], "namespaces": ["a"]}),
            "rules cannot apply to both regular resources and non-resource URLs",
        ),
        (
            doc({"level": "None", "resources": [{"group": "apps/v1"}]}),
            'rules[0].resources.group: Invalid value: "apps/v1"',
        ),
        (
            doc({"level": "None", "omitStages": ["Sometimes"]}),
            'rules[0].omitStages[0]: Unsupported value: "Sometimes"',
        ),
        (
            doc({"level": "None", "userGroup": ["x"]}),
            'rules[0].userGroup: unknown field "userGroup"',
        ),
    ],
)
def test_invalid_policies_are_refused_with_kubernetes_messages(
    document: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        parse_policy(document)
    assert message in str(raised.value)


def test_load_policy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    assert policy.load_policy(path).rules[0].config.level == "Metadata"
    path.write_text("rules: [")
    with pytest.raises(ValueError, match=r"policy\.yaml: failed decoding"):
        policy.load_policy(path)
    with pytest.raises(ValueError, match="failed to read audit policy file"):
        policy.load_policy(tmp_path / "missing.yaml")


def test_attributes_of_a_non_resource_request_carry_its_path() -> None:
    attrs = Attributes(JANE, "get", resource_request=False, path="/healthz/etcd")
    assert policy.path_matches(attrs.path, "/healthz*")
    assert not policy.path_matches("/healthy", "/healthz*")
