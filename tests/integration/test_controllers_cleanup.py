"""Endpoints, garbage collection (all three propagation policies) and namespace deletion,
in a real controller-manager process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import Api, deployment_manifest
from tests.support.controllers import (
    ControllerManager,
    FakeKubelet,
    live,
    pods,
    run_controller_manager,
    set_pod_status,
)
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(apiserver, tmp_path_factory)


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
            ]
        },
    }


def endpoints(api: Api, ns: str, name: str) -> dict[str, Any]:
    r = api.get(f"/api/v1/namespaces/{ns}/endpoints/{name}")
    return dict(r.json()) if r.status_code == 200 else {}


def ips(ep: dict[str, Any], field: str = "addresses") -> set[str]:
    return {a["ip"] for s in ep.get("subsets") or [] for a in s.get(field) or []}


def test_endpoints_follow_readiness(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    assert api.post(f"/api/v1/namespaces/{ns}/services", service).status_code == 201
    for name in ("a", "b"):
        assert api.post(f"/api/v1/namespaces/{ns}/pods", pod(name, app="web")).status_code == 201
    api.post(f"/api/v1/namespaces/{ns}/pods", pod("other", app="other"))
    wait_for(lambda: endpoints(api, ns, "web"), "the Endpoints object")
    a = set_pod_status(api, ns, {"metadata": {"name": "a"}}, ready=True, ip="10.1.0.1")
    set_pod_status(api, ns, {"metadata": {"name": "b"}}, ready=False, ip="10.1.0.2")
    wait_for(
        lambda: (
            ips(endpoints(api, ns, "web")) == {"10.1.0.1"}
            and ips(endpoints(api, ns, "web"), "notReadyAddresses") == {"10.1.0.2"}
        ),
        "a ready, b not ready",
        timeout=3,
    )
    ep = endpoints(api, ns, "web")
    subset = ep["subsets"][0]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    ref = subset["addresses"][0]["targetRef"]
    assert ref["kind"] == "Pod" and ref["name"] == "a" and ref["uid"] == a["metadata"]["uid"]

    set_pod_status(api, ns, {"metadata": {"name": "b"}}, ready=True)
    wait_for(
        lambda: ips(endpoints(api, ns, "web")) == {"10.1.0.1", "10.1.0.2"},
        "b ready within a second",
        timeout=1.5,
    )
    api.delete(f"/api/v1/namespaces/{ns}/pods/a")
    wait_for(lambda: ips(endpoints(api, ns, "web")) == {"10.1.0.2"}, "a removed", timeout=3)
    api.delete(f"/api/v1/namespaces/{ns}/services/web")
    wait_for(lambda: not endpoints(api, ns, "web"), "Endpoints deleted with the Service")


def d_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


def rs_items(api: Api, ns: str) -> list[dict[str, Any]]:
    return list(api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets").json()["items"])


def running_deployment(api: Api, ns: str, name: str, replicas: int = 2) -> None:
    assert api.post(d_path(ns), deployment_manifest(name, replicas)).status_code == 201
    wait_for(lambda: len(live(pods(api, ns, f"app={name}"))) == replicas, f"{replicas} pods")


def test_background_deletion_removes_replicasets_and_pods(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    running_deployment(api, ns, "bg")
    r = api.delete(d_path(ns, "bg"))
    assert r.status_code == 200, r.text
    wait_for(lambda: not rs_items(api, ns) and not pods(api, ns), "ReplicaSets and pods gone")


def test_foreground_deletion_keeps_owner_until_dependents_are_gone(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    running_deployment(api, ns, "fg")
    r = api.delete(
        d_path(ns, "fg"),
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
    )
    assert r.status_code == 200, r.text
    assert "foregroundDeletion" in r.json()["metadata"]["finalizers"]
    early: list[str] = []

    def gone() -> bool:
        dependents = bool(rs_items(api, ns) or pods(api, ns))
        owner = api.get(d_path(ns, "fg")).status_code == 200
        if not owner and dependents:
            early.append("the owner went before its dependents")
        return not owner and not dependents

    wait_for(gone, "deployment, ReplicaSets and pods gone")
    assert not early


def test_orphan_deletion_keeps_dependents(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    running_deployment(api, ns, "orph")
    r = api.delete(
        d_path(ns, "orph"),
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"},
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: api.get(d_path(ns, "orph")).status_code == 404, "the deployment gone")
    rss = rs_items(api, ns)
    assert len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")
    assert len(live(pods(api, ns, "app=orph"))) == 2, "pods still there, still owned by the RS"


def test_dangling_owner_reference_is_collected(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "parent",
                    "uid": "00000000-0000-0000-0000-000000000000",
                }
            ],
        },
    }
    assert api.post(f"/api/v1/namespaces/{ns}/configmaps", cm).status_code == 201
    wait_for(
        lambda: api.get(f"/api/v1/namespaces/{ns}/configmaps/child").status_code == 404,
        "the child of a missing owner deleted",
    )


def test_namespace_deletion_deletes_everything(
    api: Api, controller_manager: ControllerManager
) -> None:
    ns = api.namespace()
    with FakeKubelet(api, ns):
        running_deployment(api, ns, "web", 2)
        api.post(
            f"/api/v1/namespaces/{ns}/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
        )
        r = api.delete(f"/api/v1/namespaces/{ns}")
        assert r.status_code == 200, r.text
        assert r.json()["status"]["phase"] == "Terminating"
        wait_for(
            lambda: api.get(f"/api/v1/namespaces/{ns}").status_code == 404,
            "the namespace gone",
            timeout=15,
        )
    for path in (
        f"/api/v1/namespaces/{ns}/pods",
        f"/api/v1/namespaces/{ns}/configmaps",
        f"/apis/apps/v1/namespaces/{ns}/deployments",
    ):
        assert api.get(path).json()["items"] == []
