import pytest

from minik8s.api import resources
from minik8s.apiserver import routing


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/pods", routing.ResourcePath(resources.PODS, None, None, None)),
        (
            "/api/v1/namespaces/default/pods",
            routing.ResourcePath(resources.PODS, "default", None, None),
        ),
        ("/api/v1/namespaces/ns1/pods/p1", routing.ResourcePath(resources.PODS, "ns1", "p1", None)),
        (
            "/api/v1/namespaces/ns1/pods/p1/status",
            routing.ResourcePath(resources.PODS, "ns1", "p1", "status"),
        ),
        (
            "/api/v1/namespaces/ns1/pods/p1/binding",
            routing.ResourcePath(resources.PODS, "ns1", "p1", "binding"),
        ),
        (
            "/api/v1/namespaces/ns1/bindings",
            routing.ResourcePath(resources.PODS, "ns1", None, "binding"),
        ),
        ("/api/v1/namespaces", routing.ResourcePath(resources.NAMESPACES, None, None, None)),
        ("/api/v1/namespaces/ns1", routing.ResourcePath(resources.NAMESPACES, None, "ns1", None)),
        (
            "/api/v1/namespaces/ns1/status",
            routing.ResourcePath(resources.NAMESPACES, None, "ns1", "status"),
        ),
        (
            "/api/v1/namespaces/ns1/finalize",
            routing.ResourcePath(resources.NAMESPACES, None, "ns1", "finalize"),
        ),
        ("/api/v1/nodes/n1/status", routing.ResourcePath(resources.NODES, None, "n1", "status")),
        (
            "/apis/apps/v1/namespaces/d/deployments/web/scale",
            routing.ResourcePath(resources.DEPLOYMENTS, "d", "web", "scale"),
        ),
        (
            "/apis/apps/v1/deployments",
            routing.ResourcePath(resources.DEPLOYMENTS, None, None, None),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
            routing.ResourcePath(resources.LEASES, "kube-node-lease", "n1", None),
        ),
        ("/api/v1", routing.GroupVersionPath("", "v1")),
        ("/apis/apps/v1", routing.GroupVersionPath("apps", "v1")),
        ("/api", None),
        ("/apis", None),
    ],
)
def test_parse_known_paths(path: str, expected: object) -> None:
    assert routing.parse(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/widgets",
        "/api/v1/pods/p1",  # a namespaced object needs its namespace
        "/api/v1/namespaces/ns1/nodes",  # nodes are not namespaced
        "/api/v1/namespaces/ns1/pods/p1/bogus",
        "/api/v1/namespaces/ns1/pods/p1/status/extra",
        "/apis/apps/v1/pods",
    ],
)
def test_parse_unknown_paths(path: str) -> None:
    assert isinstance(routing.parse(path), routing.UnknownPath)


@pytest.mark.parametrize("sub", ["exec", "attach", "portforward", "ephemeralcontainers"])
def test_pod_connect_subresources_are_served(sub: str) -> None:
    target = routing.parse(f"/api/v1/namespaces/ns1/pods/p1/{sub}")
    assert isinstance(target, routing.ResourcePath)
    assert target.subresource == sub


@pytest.mark.parametrize("sub", ["proxy"])
def test_pod_subresources_out_of_scope_are_unsupported_not_unknown(sub: str) -> None:
    target = routing.parse(f"/api/v1/namespaces/ns1/pods/p1/{sub}")
    assert isinstance(target, routing.UnsupportedPath)
    assert target.message.startswith(f"pods/{sub} is not supported by minik8s")


def test_reviews_are_create_only_resources() -> None:
    target = routing.parse("/apis/authentication.k8s.io/v1/selfsubjectreviews")
    assert isinstance(target, routing.ResourcePath)
    assert target.resource is resources.SELFSUBJECTREVIEWS and target.name is None
    local = routing.parse("/apis/authorization.k8s.io/v1/namespaces/ns1/localsubjectaccessreviews")
    assert isinstance(local, routing.ResourcePath) and local.namespace == "ns1"


def test_node_proxy_keeps_the_path_after_proxy() -> None:
    target = routing.parse("/api/v1/nodes/node-1/proxy/stats/summary")
    assert isinstance(target, routing.ResourcePath)
    assert (target.name, target.subresource, target.path) == ("node-1", "proxy", "/stats/summary")
