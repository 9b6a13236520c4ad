"""discovery.k8s.io/v1 EndpointSlices: the API (validation as Kubernetes words it, kubectl's
columns) and the EndpointSlice controller in a real controller-manager process, which slices
a Service's pods two at a time here (`--max-endpoints-per-slice=2`)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_controllers_cleanup import pod
from tests.support.api import Api
from tests.support.controllers import ControllerManager, run_controller_manager, set_pod_status
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

SERVICE_LABEL = "kubernetes.io/service-name"


@pytest.fixture(scope="module")
def controller_manager(
    apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(
        apiserver,
        tmp_path_factory,
        controllers="endpointslice,garbagecollector",
        name="slices",
        args=["--max-endpoints-per-slice=2"],
    )


def path(ns: str, name: str = "") -> str:
    return f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices" + (
        f"/{name}" if name else ""
    )


def slices(api: Api, ns: str, service: str) -> list[dict[str, Any]]:
    r = api.get(path(ns), params={"labelSelector": f"{SERVICE_LABEL}={service}"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def endpoints_by_ip(api: Api, ns: str, service: str) -> dict[str, dict[str, Any]]:
    return {
        e["addresses"][0]: e for s in slices(api, ns, service) for e in s.get("endpoints") or []
    }


def web_service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def test_slices_follow_the_pods_of_a_service(
    api: Api, ns: str, controller_manager: ControllerManager
) -> None:
    assert api.post(f"/api/v1/namespaces/{ns}/services", web_service()).status_code == 201
    (placeholder,) = wait_for(lambda: slices(api, ns, "web"), "the placeholder slice")
    assert placeholder["endpoints"] == [] and not placeholder.get("ports")
    assert placeholder["metadata"]["labels"] == {
        "tier": "front",
        SERVICE_LABEL: "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert placeholder["metadata"]["name"].startswith("web-")

    ips = {name: f"10.2.0.{i}" for i, name in enumerate("abc", start=1)}
    for name in ips:
        assert api.post(f"/api/v1/namespaces/{ns}/pods", pod(name, app="web")).status_code == 201
        set_pod_status(api, ns, {"metadata": {"name": name}}, ready=name != "c", ip=ips[name])
    wait_for(
        lambda: set(endpoints_by_ip(api, ns, "web")) == set(ips.values()),
        "three endpoints in the Service's slices",
    )
    found = slices(api, ns, "web")
    assert sorted(len(s["endpoints"]) for s in found) == [1, 2], "two per slice at most"
    for s in found:
        assert s["addressType"] == "IPv4"
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        (owner,) = s["metadata"]["ownerReferences"]
        assert owner["kind"] == "Service" and owner["name"] == "web" and owner["controller"]
    by_ip = endpoints_by_ip(api, ns, "web")
    a, c = by_ip[ips["a"]], by_ip[ips["c"]]
    assert a["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert c["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert a["targetRef"]["kind"] == "Pod" and a["targetRef"]["name"] == "a"

    set_pod_status(api, ns, {"metadata": {"name": "c"}}, ready=True)
    wait_for(
        lambda: endpoints_by_ip(api, ns, "web")[ips["c"]]["conditions"]["ready"],
        "c ready in its slice",
    )
    assert api.delete(f"/api/v1/namespaces/{ns}/pods/a").status_code == 200
    wait_for(lambda: ips["a"] not in endpoints_by_ip(api, ns, "web"), "a gone from the slices")
    assert len(endpoints_by_ip(api, ns, "web")) == 2

    assert api.delete(f"/api/v1/namespaces/{ns}/services/web").status_code == 200
    wait_for(lambda: not slices(api, ns, "web"), "the slices collected with their Service")


def test_kubectl_lists_slices_with_kubernetes_columns(
    api: Api, ns: str, apiserver: Apiserver, tmp_path: Any
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "manual", "labels": {SERVICE_LABEL: "manual"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.3.0.{i}"]} for i in range(1, 6)],
        "ports": [{"name": "http", "port": 80}],
    }
    r = api.post(path(ns), body)
    assert r.status_code == 201, r.text
    assert r.json()["ports"][0]["protocol"] == "TCP", "protocol defaults to TCP"
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    out = subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "-n", ns, "get", "endpointslices"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row.split()[:4] == ["manual", "IPv4", "80", "10.3.0.1,10.3.0.2,10.3.0.3"]
    assert "+ 2 more..." in row


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"addressType": "IPv5"}, "addressType", 'Unsupported value: "IPv5"'),
        ({"endpoints": [{"addresses": ["fe80::1"]}]}, "endpoints[0].addresses[0]",
         "must be a valid IPv4 address"),
        ({"endpoints": [{"addresses": ["fe80::1"]}]}, "endpoints[0].addresses[0]",
         "may not be in the link-local range"),
        ({"endpoints": [{"addresses": []}]}, "endpoints[0].addresses",
         "must contain at least 1 address"),
        ({"endpoints": [{"addresses": ["127.0.0.1"]}]}, "endpoints[0].addresses[0]",
         "may not be in the loopback range"),
        ({"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}, "ports[1].name",
         'Duplicate value: "a"'),
        ({"ports": [{"port": 1, "protocol": "ICMP"}]}, "ports[0].protocol",
         'Unsupported value: "ICMP"'),
        ({"endpoints": [{"addresses": ["10.0.0.1"]}] * 1001}, "endpoints",
         "Too many: 1001: must have at most 1000 items"),
    ],
)  # fmt: skip
def test_invalid_slices_are_rejected_with_field_causes(
    api: Api, ns: str, change: dict[str, Any], field: str, message: str
) -> None:
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "bad"},
        "addressType": "IPv4",
        "endpoints": [],
        **change,
    }
    r = api.post(path(ns), body)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    messages = [c["message"] for c in status["details"]["causes"] if c["field"] == field]
    assert any(message in m for m in messages), status["details"]["causes"]


def test_the_address_type_is_immutable(api: Api, ns: str) -> None:
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "fixed"}, "addressType": "IPv4", "endpoints": []}  # fmt: skip
    created = api.post(path(ns), body).json()
    r = api.put(path(ns, "fixed"), {**created, "addressType": "IPv6"})
    assert r.status_code == 422, r.text
    assert "field is immutable" in r.text


def test_the_apiserver_keeps_the_kubernetes_slice_beside_its_endpoints(api: Api) -> None:
    def both() -> tuple[dict[str, Any], dict[str, Any]] | None:
        endpoints = api.get("/api/v1/namespaces/default/endpoints/kubernetes")
        slice_ = api.get(path("default", "kubernetes"))
        if endpoints.status_code != 200 or slice_.status_code != 200:
            return None
        return endpoints.json(), slice_.json()

    endpoints, slice_ = wait_for(both, "the kubernetes Endpoints and EndpointSlice")
    subset = endpoints["subsets"][0]
    assert slice_["metadata"]["labels"] == {SERVICE_LABEL: "kubernetes"}
    assert slice_["addressType"] == "IPv4"
    assert [e["addresses"][0] for e in slice_["endpoints"]] == [
        a["ip"] for a in subset["addresses"]
    ]
    assert all(e["conditions"] == {"ready": True} for e in slice_["endpoints"])
    assert slice_["ports"] == [
        {"name": "https", "port": subset["ports"][0]["port"], "protocol": "TCP"}
    ]
