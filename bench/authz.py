"""CPU of authentication and authorization per request, in process (no network, no noise).

    .venv/bin/python -m bench.authz [--requests 200000]

Times what the apiserver's front door adds to every request, with the default bootstrap
policy plus 1 000 namespaces each holding a RoleBinding (so the index has something to skip):
the request attributes (Kubernetes' RequestInfo), then the union of authorizers
(`system:masters`, Node, RBAC) for a pod create by an RBAC user, a kubelet's pod status
update, a kubelet's read of a ConfigMap its pod uses, and an admin request; also the token
lookup and the client-certificate path (subject already parsed once per connection). Compare
with the apiserver CPU of a create that `bench.api` prints (~0.9 ms on the 2-core machine).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.apiserver import requestinfo
from minik8s.apiserver.authn.chain import Authenticator
from minik8s.apiserver.authn.tokenfile import TokenFileAuthenticator
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.authz.authorizer import PrivilegedGroups, Union
from minik8s.apiserver.authz.node import NodeAuthorizer, NodeGraph
from minik8s.apiserver.authz.rbac import RbacAuthorizer, Snapshot
from minik8s.apiserver.bootstrappolicy import policy
from minik8s.componentbase import tlspeer


def per_call(fn: Callable[[], object], n: int) -> float:
    """Microseconds of CPU per call."""
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) * 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()

    bindings = [
        {
            "kind": "RoleBinding",
            "metadata": {"name": "edit", "namespace": f"ns-{i}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "User", "name": f"user-{i}"}],
        }
        for i in range(1000)
    ]
    roles = policy.cluster_roles()
    edit = next(r for r in roles if r["metadata"]["name"] == "edit")
    edit["rules"] = [{"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}]
    snapshot = Snapshot([], roles, bindings, policy.cluster_role_bindings())

    rbac = RbacAuthorizer(None)
    rbac._snapshot = snapshot  # a fixed snapshot instead of the watch cache's objects
    graph = NodeGraph()
    graph.reset(
        [
            {
                "metadata": {"name": f"p{i}", "namespace": "ns-1"},
                "spec": {
                    "nodeName": f"node-{i % 100}",
                    "volumes": [{"name": "v", "configMap": {"name": f"cm-{i}"}}],
                    "containers": [{"name": "c"}],
                },
            }
            for i in range(10_000)
        ]
    )
    union = Union([PrivilegedGroups(), NodeAuthorizer(graph), rbac])
    user = UserInfo("user-1", "", ("system:authenticated",))
    node = UserInfo("system:node:node-1", "", ("system:nodes", "system:authenticated"))
    admin = UserInfo("admin", "", ("system:masters", "system:authenticated"))
    cases = {
        "pod create, RBAC user": (user, "POST", "/api/v1/namespaces/ns-1/pods"),
        "pod status, kubelet": (node, "PUT", "/api/v1/namespaces/ns-1/pods/p1/status"),
        "configmap its pod uses, kubelet": (node, "GET", "/api/v1/namespaces/ns-1/configmaps/cm-1"),
        "pod create, system:masters": (admin, "POST", "/api/v1/namespaces/ns-1/pods"),
    }
    n = args.requests
    print(f"{n} calls each; CPU per request in microseconds")
    for name, (who, method, path) in cases.items():
        parse = per_call(functools.partial(requestinfo.parse, who, method, path), n)
        attrs = requestinfo.parse(who, method, path)
        assert union.allowed(attrs), name
        decide = per_call(functools.partial(union.authorize, attrs), n)
        print(
            f"  {name:<34} attributes {parse:5.2f} + decision {decide:5.2f} = {parse + decide:5.2f}"
        )

    tokens = Authenticator([TokenFileAuthenticator({"t" * 64: UserInfo("admin")})])
    token_scope = {
        "type": "http",
        "path": "/api/v1/pods",
        "headers": [(b"authorization", b"Bearer " + b"t" * 64)],
    }
    certs = Authenticator([], client_certificates=True)
    subject = ("user-1", ("devs",))
    cert_scope = {
        "type": "http",
        "path": "/api/v1/pods",
        "headers": [],
        "extensions": {tlspeer.TLS_EXTENSION: {tlspeer.SUBJECT_KEY: subject}},
    }
    token_cost = per_call(functools.partial(tokens.authenticate, token_scope), n)
    cert_cost = per_call(functools.partial(certs.authenticate, cert_scope), n)
    print(f"  {'authenticate, token file':<34} {token_cost:5.2f}")
    print(f"  {'authenticate, client certificate':<34} {cert_cost:5.2f}")


if __name__ == "__main__":
    main()
