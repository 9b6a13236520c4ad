"""Wire fidelity: Status bodies byte for byte as Kubernetes writes them, and what each DELETE
answers with (the object for kinds whose registry returns it, a Status otherwise)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.support.api import Api, deployment_manifest, pod_manifest

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
}


def test_not_found_status_bytes(api: Api, ns: str) -> None:
    r = api.get(f"/api/v1/namespaces/{ns}/configmaps/nope")
    assert r.status_code == 404
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","kind":"configmaps"},"code":404}\n'
    )


def test_unknown_path_and_method_are_the_generic_statuses(api: Api) -> None:
    r = api.get("/api/v1/nosuchthings")
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"the server could not find the requested resource","reason":"NotFound",'
        b'"details":{},"code":404}\n'
    )
    r = api.put("/api/v1/namespaces/default/pods", {})
    assert r.status_code == 405
    assert r.json()["message"] == "the server does not allow this method on the requested resource"
    assert r.json()["details"] == {}


def test_invalid_status_orders_details_before_code(api: Api, ns: str) -> None:
    bad = pod_manifest("bad")
    bad["spec"]["containers"][0]["image"] = ""
    r = api.post(f"/api/v1/namespaces/{ns}/pods", bad)
    assert r.status_code == 422
    assert list(r.json()) == [
        "kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code",
    ]  # fmt: skip
    assert list(r.json()["details"]) == ["name", "kind", "causes"]
    assert r.content.endswith(b"}\n")


def test_delete_answers(api: Api, ns: str) -> None:
    """Pods and Services come back as objects, Deployments and ConfigMaps as a Status."""
    base = f"/api/v1/namespaces/{ns}"
    assert api.post(f"{base}/services", SERVICE).status_code == 201
    r = api.delete(f"{base}/services/web")
    assert r.status_code == 200
    assert r.json()["kind"] == "Service" and r.json()["metadata"]["name"] == "web"

    created = api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment_manifest("d"))
    uid = created.json()["metadata"]["uid"]
    r = api.delete(f"/apis/apps/v1/namespaces/{ns}/deployments/d")
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
        b'"details":{"name":"d","group":"apps","kind":"deployments","uid":"'
        + uid.encode()
        + b'"}}\n'
    )
    api.post(f"{base}/configmaps", {"metadata": {"name": "c"}, "data": {"a": "b"}})
    r = api.delete(f"{base}/configmaps/c")
    assert r.json()["status"] == "Success" and "code" not in r.json()

    api.post(f"{base}/pods", pod_manifest("p"))
    r = api.delete(f"{base}/pods/p")
    assert r.json()["kind"] == "Pod"


@pytest.fixture()
def python_client(kubeconfig: Path) -> Any:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


def test_python_client_decodes_deletes(python_client: Any, ns: str) -> None:
    core = kubernetes.client.CoreV1Api(python_client)
    core.create_namespaced_service(ns, SERVICE)
    deleted = core.delete_namespaced_service("web", ns)
    assert isinstance(deleted, kubernetes.client.V1Service)
    assert deleted.metadata.name == "web"
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    status = core.delete_namespaced_config_map("c", ns)
    assert status["status"] == "Success" and status["details"]["name"] == "c"


def test_python_dynamic_client(python_client: Any, ns: str) -> None:
    """The dynamic client resolves kinds from discovery and works over any of them."""
    from kubernetes import dynamic

    client = dynamic.DynamicClient(python_client)
    deployments = client.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=deployment_manifest("dyn", replicas=1), namespace=ns)
    got = deployments.get(name="dyn", namespace=ns)
    assert got.spec.replicas == 1
    patched = deployments.patch(
        name="dyn",
        namespace=ns,
        body={"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )
    assert patched.spec.replicas == 3
    services = client.resources.get(api_version="v1", kind="Service")
    services.create(body=SERVICE, namespace=ns)
    assert services.delete(name="web", namespace=ns).kind == "Service"
