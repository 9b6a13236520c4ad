"""CRUD semantics of the apiserver over a real etcd."""

from __future__ import annotations

import concurrent.futures

import httpx

from tests.support.api import Api, deployment_manifest, pod_manifest
from tests.support.processes import Apiserver

MERGE = "application/merge-patch+json"


def test_health_and_version_need_no_token(apiserver: Apiserver) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        assert httpx.get(apiserver.url + path, verify=apiserver.verify).status_code == 200
    version = httpx.get(apiserver.url + "/version", verify=apiserver.verify).json()
    assert version["major"] == "1" and version["minor"] == "32"


def test_requests_without_a_token_get_401_status(apiserver: Apiserver) -> None:
    r = httpx.get(apiserver.url + "/api/v1/namespaces", verify=apiserver.verify)
    assert r.status_code == 401
    assert r.json()["kind"] == "Status" and r.json()["reason"] == "Unauthorized"
    r = httpx.get(
        apiserver.url + "/api/v1/namespaces",
        headers={"Authorization": "Bearer nope"},
        verify=apiserver.verify,
    )
    assert r.status_code == 401


def test_bootstrap_namespaces_exist(api: Api) -> None:
    names = {n["metadata"]["name"] for n in api.get("/api/v1/namespaces").json()["items"]}
    assert {"default", "kube-system", "kube-node-lease", "kube-public"} <= names


def test_create_get_list_delete_pod(api: Api, ns: str) -> None:
    r = api.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("web"))
    assert r.status_code == 201, r.text
    created = r.json()
    meta = created["metadata"]
    assert meta["namespace"] == ns and meta["uid"] and meta["creationTimestamp"]
    assert int(meta["resourceVersion"]) > 0
    assert created["status"]["phase"] == "Pending"
    assert created["spec"]["restartPolicy"] == "Always"  # defaulted
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # no tag: latest

    got = api.get(f"/api/v1/namespaces/{ns}/pods/web").json()
    assert got["metadata"]["resourceVersion"] == meta["resourceVersion"]

    listed = api.get(f"/api/v1/namespaces/{ns}/pods").json()
    assert listed["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])

    everywhere = api.get("/api/v1/pods").json()
    assert any(p["metadata"]["namespace"] == ns for p in everywhere["items"])

    r = api.delete(f"/api/v1/namespaces/{ns}/pods/web")
    assert r.status_code == 200, r.text  # never scheduled: deleted at once
    r = api.get(f"/api/v1/namespaces/{ns}/pods/web")
    assert r.status_code == 404
    status = r.json()
    assert status["reason"] == "NotFound" and status["message"] == 'pods "web" not found'
    assert status["details"] == {"name": "web", "kind": "pods"}


def test_unknown_fields_are_dropped_with_a_warning_by_default(api: Api, ns: str) -> None:
    """As in Kubernetes: unknown fields never reach storage (fieldValidation defaults to Warn;
    test_hardening covers Strict and Ignore)."""
    manifest = pod_manifest("keep")
    manifest["spec"]["containers"][0]["x-custom"] = {"a": 1}
    r = api.post(f"/api/v1/namespaces/{ns}/pods", manifest)
    assert r.status_code == 201, r.text
    assert r.headers.get_list("warning") == [
        '299 - "unknown field \\"spec.containers[0].x-custom\\""'
    ]
    got = api.get(f"/api/v1/namespaces/{ns}/pods/keep").json()
    assert "x-custom" not in got["spec"]["containers"][0]


def test_create_twice_is_already_exists(api: Api, ns: str) -> None:
    assert api.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("dup")).status_code == 201
    r = api.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("dup"))
    assert r.status_code == 409
    assert r.json()["reason"] == "AlreadyExists"
    assert r.json()["message"] == 'pods "dup" already exists'


def test_generate_name(api: Api, ns: str) -> None:
    manifest = pod_manifest("x")
    manifest["metadata"] = {"generateName": "web-"}
    r = api.post(f"/api/v1/namespaces/{ns}/pods", manifest)
    assert r.status_code == 201, r.text
    name = r.json()["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


def test_create_in_missing_namespace_is_404(api: Api) -> None:
    r = api.post("/api/v1/namespaces/does-not-exist/pods", pod_manifest("p"))
    assert r.status_code == 404
    assert r.json()["message"] == 'namespaces "does-not-exist" not found'


def test_concurrent_updates_from_one_version_exactly_one_wins(api: Api, ns: str) -> None:
    created = api.post(
        f"/api/v1/namespaces/{ns}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm"},
            "data": {"v": "0"},
        },
    ).json()

    def update(i: int) -> int:
        body = {**created, "data": {"v": str(i + 1)}}
        return api.put(f"/api/v1/namespaces/{ns}/configmaps/cm", body).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(update, range(8)))
    assert codes.count(200) == 1, codes
    assert codes.count(409) == 7, codes
    stale = api.put(f"/api/v1/namespaces/{ns}/configmaps/cm", {**created, "data": {"v": "x"}})
    assert stale.json()["reason"] == "Conflict"
    assert "the object has been modified" in stale.json()["message"]


def test_generation_bumps_on_spec_not_on_status_or_metadata(api: Api, ns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    created = api.post(path, deployment_manifest("web")).json()
    assert created["metadata"]["generation"] == 1
    r = api.patch(f"{path}/web", {"metadata": {"labels": {"x": "y"}}}, MERGE)
    assert r.json()["metadata"]["generation"] == 1
    r = api.patch(f"{path}/web/status", {"status": {"replicas": 2}}, MERGE)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["generation"] == 1 and r.json()["status"]["replicas"] == 2
    r = api.patch(f"{path}/web", {"spec": {"replicas": 5}}, MERGE)
    assert r.json()["metadata"]["generation"] == 2


def test_status_writes_change_only_status_and_spec_writes_keep_status(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods/st"
    api.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("st"))
    pod = api.get(path).json()
    pod["status"] = {"phase": "Running", "podIP": "10.0.0.5"}
    pod["metadata"]["labels"] = {"changed": "yes"}
    r = api.put(f"{path}/status", pod)
    assert r.status_code == 200, r.text
    assert r.json()["status"]["phase"] == "Running"
    assert r.json()["metadata"]["labels"] == {"app": "st"}  # metadata untouched by status
    pod = r.json()
    pod["status"] = {"phase": "Failed"}
    pod["spec"]["containers"][0]["image"] = "nginx:2"
    r = api.put(path, pod)
    assert r.status_code == 200, r.text
    assert r.json()["status"]["phase"] == "Running"  # status untouched by the main resource
    assert r.json()["spec"]["containers"][0]["image"] == "nginx:2"


def test_finalizers_hold_deletion_until_removed(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    api.post(
        path,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
        },
    )
    r = api.delete(f"{path}/held")
    assert r.status_code == 200, r.text
    held = api.get(f"{path}/held").json()
    assert held["metadata"]["deletionTimestamp"]
    r = api.patch(f"{path}/held", {"metadata": {"finalizers": None}}, MERGE)
    assert r.status_code == 200, r.text
    assert api.get(f"{path}/held").status_code == 404


def test_graceful_pod_deletion_of_a_bound_pod(api: Api, ns: str) -> None:
    api.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("bound"))
    r = api.post(
        f"/api/v1/namespaces/{ns}/pods/bound/binding",
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "bound"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
        },
    )
    assert r.status_code == 201, r.text
    pod = api.get(f"/api/v1/namespaces/{ns}/pods/bound").json()
    assert pod["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= pod["status"]["conditions"][
        0
    ].items()
    again = api.post(
        f"/api/v1/namespaces/{ns}/pods/bound/binding",
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "bound"},
            "target": {"kind": "Node", "name": "node-2"},
        },
    )
    assert again.status_code == 409
    r = api.delete(f"/api/v1/namespaces/{ns}/pods/bound")
    assert r.status_code == 200
    pod = api.get(f"/api/v1/namespaces/{ns}/pods/bound").json()
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30  # waits for its kubelet
    r = api.delete(f"/api/v1/namespaces/{ns}/pods/bound", {"gracePeriodSeconds": 0})
    assert r.status_code == 200
    assert api.get(f"/api/v1/namespaces/{ns}/pods/bound").status_code == 404


def test_scale_subresource(api: Api, ns: str) -> None:
    path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    api.post(path, deployment_manifest("sc", replicas=2))
    scale = api.get(f"{path}/sc/scale").json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=sc"
    r = api.patch(f"{path}/sc/scale", {"spec": {"replicas": 5}}, MERGE)
    assert r.status_code == 200, r.text
    assert api.get(f"{path}/sc").json()["spec"]["replicas"] == 5
    scale = api.get(f"{path}/sc/scale").json()
    scale["spec"]["replicas"] = 1
    assert api.put(f"{path}/sc/scale", scale).json()["spec"]["replicas"] == 1


def test_service_cluster_ip_and_node_port_allocation(api: Api, ns: str) -> None:
    def service(name: str, **spec: object) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
        }

    a = api.post(f"/api/v1/namespaces/{ns}/services", service("a", type="NodePort")).json()
    ip = a["spec"]["clusterIP"]
    assert ip.startswith("10.96.")
    node_port = a["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    assert a["spec"]["ports"][0]["targetPort"] == 80
    r = api.post(f"/api/v1/namespaces/{ns}/services", service("b", clusterIP=ip))
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.clusterIPs"
    r = api.post(
        f"/api/v1/namespaces/{ns}/services",
        service("c", type="NodePort", ports=[{"port": 80, "nodePort": node_port}]),
    )
    assert r.status_code == 422
    assert api.delete(f"/api/v1/namespaces/{ns}/services/a").status_code == 200
    r = api.post(f"/api/v1/namespaces/{ns}/services", service("b", clusterIP=ip))
    assert r.status_code == 201, r.text  # released on delete


def test_patch_types(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    api.post(path, pod_manifest("pt"))
    r = api.patch(
        f"{path}/pt",
        [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}],
        "application/json-patch+json",
    )
    assert r.status_code == 200 and r.json()["metadata"]["labels"]["tier"] == "web"
    r = api.patch(
        f"{path}/pt",
        [{"op": "test", "path": "/metadata/labels/tier", "value": "db"}],
        "application/json-patch+json",
    )
    assert r.status_code == 422, r.text
    r = api.patch(
        f"{path}/pt",
        {"spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]}},
        "application/strategic-merge-patch+json",
    )
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["containers"][0]["image"] == "nginx:1.25"
    r = api.patch(f"{path}/pt", {"metadata": {}}, "text/plain")
    assert r.status_code == 415


def test_namespace_deletion_sets_terminating(api: Api) -> None:
    name = api.namespace()
    r = api.delete(f"/api/v1/namespaces/{name}")
    assert r.status_code in (200, 202)
    got = api.get(f"/api/v1/namespaces/{name}").json()
    assert got["status"]["phase"] == "Terminating"
    r = api.post(f"/api/v1/namespaces/{name}/pods", pod_manifest("late"))
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    assert api.delete("/api/v1/namespaces/default").status_code == 403


def test_label_and_field_selectors_on_lists(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/pods"
    api.post(path, pod_manifest("a", tier="web", env="prod"))
    api.post(path, pod_manifest("b", tier="db", env="prod"))
    api.post(path, pod_manifest("c", tier="web"))

    def names(**params: str) -> list[str]:
        return [p["metadata"]["name"] for p in api.get(path, params=params).json()["items"]]

    assert names(labelSelector="tier=web") == ["a", "c"]
    assert names(labelSelector="tier in (web,db),env") == ["a", "b"]
    assert names(labelSelector="!env") == ["c"]
    assert names(labelSelector="tier notin (web)") == ["b"]
    assert names(fieldSelector="metadata.name!=a") == ["b", "c"]
    assert names(fieldSelector="status.phase=Pending,metadata.name=b") == ["b"]
    r = api.get(path, params={"fieldSelector": "spec.bogus=1"})
    assert r.status_code == 400


def test_concurrent_service_creates_get_distinct_addresses(api: Api, ns: str) -> None:
    def create(i: int) -> dict:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"s{i}"},
            "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]},
        }
        r = api.post(f"/api/v1/namespaces/{ns}/services", body)
        assert r.status_code == 201, r.text
        return r.json()

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        services = list(pool.map(create, range(20)))
    ips = {s["spec"]["clusterIP"] for s in services}
    ports = {s["spec"]["ports"][0]["nodePort"] for s in services}
    assert len(ips) == 20 and len(ports) == 20
