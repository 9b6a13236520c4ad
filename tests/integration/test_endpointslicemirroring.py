"""The EndpointSlice mirroring controller in a real controller-manager process, running as
`system:kube-controller-manager` against an apiserver that authorizes with RBAC (so its
bootstrap role is exercised): the Endpoints of a Service without a selector are mirrored as
EndpointSlices. One worker (`--mirroring-concurrent-service-endpoint-syncs=1`) syncs keys in
the order they were queued, so an Endpoints that must not be mirrored is checked once a later
one has been; two addresses a subset at most (`--mirroring-max-endpoints-per-subset=2`)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from minik8s.client.kubeconfig import kubeconfig_document
from tests.support.api import Api
from tests.support.controllers import ControllerManager, run_controller_manager
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for

SERVICE_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
MIRRORING = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
CONTROLLER_MANAGER = "system:kube-controller-manager"


@dataclass
class AsControllerManager:
    """The apiserver as the controller-manager's user sees it (its kubeconfig)."""

    server: Apiserver
    token: str

    def write_kubeconfig(self, path: Path) -> Path:
        ca_pem = self.server.ca_file.read_bytes() if self.server.ca_file else None
        document = kubeconfig_document(
            self.server.url, ca_pem, CONTROLLER_MANAGER, {"token": self.token}
        )
        path.write_text(yaml.safe_dump(document))
        return path


@pytest.fixture(scope="module")
def rbac_apiserver(etcd_server: Etcd) -> Iterator[tuple[Apiserver, str]]:
    work = temp_dir("minik8s-mirroring-")
    token = secrets.token_hex(16)
    server = Apiserver(
        etcd_server.url,
        work,
        token=secrets.token_hex(16),
        extra_tokens={token: CONTROLLER_MANAGER},
        extra_args=["--authorization-mode=RBAC"],
    )
    server.start()
    yield server, token
    server.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def controller_manager(
    rbac_apiserver: tuple[Apiserver, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    yield from run_controller_manager(
        AsControllerManager(*rbac_apiserver),
        tmp_path_factory,
        controllers="endpointslicemirroring",
        name="mirroring",
        args=[
            "--mirroring-concurrent-service-endpoint-syncs=1",
            "--mirroring-max-endpoints-per-subset=2",
        ],
    )


@pytest.fixture()
def admin(rbac_apiserver: tuple[Apiserver, str]) -> Iterator[Api]:
    client = Api(rbac_apiserver[0])
    yield client
    client.close()


@pytest.fixture()
def ns(admin: Api) -> Iterator[str]:
    name = admin.namespace()
    yield name
    admin.delete(f"/api/v1/namespaces/{name}")


def mirrored(api: Api, ns: str, service: str) -> list[dict[str, Any]]:
    r = api.get(
        f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
        params={"labelSelector": f"{SERVICE_LABEL}={service},{MANAGED_BY}={MIRRORING}"},
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def create_service(api: Api, ns: str, name: str, selector: dict[str, str] | None = None) -> None:
    spec: dict[str, Any] = {"ports": [{"name": "sql", "port": 5432}]}
    if selector:
        spec["selector"] = selector
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}
    r = api.post(f"/api/v1/namespaces/{ns}/services", body)
    assert r.status_code == 201, r.text


def endpoints_body(name: str, ips: list[str], not_ready: list[str], port: int) -> dict[str, Any]:
    annotations = {"note": "hand-written", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    subset = {
        "addresses": [{"ip": ip, "hostname": f"db-{i}"} for i, ip in enumerate(ips)],
        "notReadyAddresses": [{"ip": ip} for ip in not_ready],
        "ports": [{"name": "sql", "port": port, "protocol": "TCP"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "labels": {"team": "data"}, "annotations": annotations},
        "subsets": [subset],
    }


def write_endpoints(api: Api, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/api/v1/namespaces/{ns}/endpoints"
    current = api.get(f"{path}/{body['metadata']['name']}")
    if current.status_code == 404:
        r = api.post(path, body)
    else:
        version = current.json()["metadata"]["resourceVersion"]
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
        r = api.put(f"{path}/{body['metadata']['name']}", body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def addresses(slice_: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(e["addresses"][0], e["conditions"]["ready"]) for e in slice_.get("endpoints") or []]


def test_a_selectorless_services_endpoints_are_mirrored(
    admin: Api, ns: str, controller_manager: ControllerManager
) -> None:
    create_service(admin, ns, "db")
    ep = write_endpoints(admin, ns, endpoints_body("db", ["10.4.0.1"], ["10.4.0.2"], 5432))
    (slice_,) = wait_for(lambda: mirrored(admin, ns, "db"), "the mirrored slice")
    metadata = slice_["metadata"]
    assert metadata["name"].startswith("db-")
    assert metadata["labels"] == {"team": "data", SERVICE_LABEL: "db", MANAGED_BY: MIRRORING}
    assert metadata["annotations"] == {"note": "hand-written"}
    (owner,) = metadata["ownerReferences"]
    assert owner == {"apiVersion": "v1", "kind": "Endpoints", "name": "db",
                     "uid": ep["metadata"]["uid"], "controller": True,
                     "blockOwnerDeletion": True}  # fmt: skip
    assert slice_["addressType"] == "IPv4"
    assert slice_["ports"] == [{"name": "sql", "port": 5432, "protocol": "TCP"}]
    assert slice_["endpoints"] == [
        {"addresses": ["10.4.0.1"], "conditions": {"ready": True}, "hostname": "db-0"},
        {"addresses": ["10.4.0.2"], "conditions": {"ready": False}},
    ]

    # an update: more addresses than mirrored (two at most), another port
    write_endpoints(admin, ns, endpoints_body("db", ["10.4.0.1", "10.4.0.3"], ["10.4.0.2"], 5433))
    (updated,) = wait_for(
        lambda: [s for s in mirrored(admin, ns, "db") if s["ports"][0]["port"] == 5433],
        "the slice updated to port 5433",
    )
    assert updated["metadata"]["name"] == metadata["name"], "the same slice, updated"
    assert addresses(updated) == [("10.4.0.1", True), ("10.4.0.3", True)]

    def truncation_event() -> list[dict[str, Any]]:
        r = admin.get(f"/api/v1/namespaces/{ns}/events")
        return [e for e in r.json()["items"] if e["reason"] == "TooManyAddressesToMirror"]

    (event,) = wait_for(truncation_event, "a TooManyAddressesToMirror event")
    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "Endpoints"
    assert "1 addresses were skipped" in event["message"]

    # skip-mirror removes the slices; taking it away brings them back
    labelled = endpoints_body("db", ["10.4.0.1"], [], 5432)
    labelled["metadata"]["labels"][SKIP_MIRROR] = "true"
    write_endpoints(admin, ns, labelled)
    wait_for(lambda: not mirrored(admin, ns, "db"), "the slice gone under skip-mirror")
    write_endpoints(admin, ns, endpoints_body("db", ["10.4.0.1"], [], 5432))
    wait_for(lambda: mirrored(admin, ns, "db"), "the slice back without skip-mirror")

    r = admin.delete(f"/api/v1/namespaces/{ns}/endpoints/db")
    assert r.status_code == 200, r.text
    wait_for(lambda: not mirrored(admin, ns, "db"), "the slice deleted with its Endpoints")
    assert admin.delete(f"/api/v1/namespaces/{ns}/services/db").status_code == 200


def test_a_service_with_a_selector_is_not_mirrored(
    admin: Api, ns: str, controller_manager: ControllerManager
) -> None:
    # a Service that gains a selector loses its mirrored slice
    create_service(admin, ns, "grows")
    write_endpoints(admin, ns, endpoints_body("grows", ["10.4.1.1"], [], 5432))
    wait_for(lambda: mirrored(admin, ns, "grows"), "the mirrored slice of grows")
    r = admin.patch(
        f"/api/v1/namespaces/{ns}/services/grows",
        {"spec": {"selector": {"app": "grows"}}},
        "application/merge-patch+json",
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: not mirrored(admin, ns, "grows"), "the slice gone once it has a selector")

    # a Service with a selector from the start: checked once a later Endpoints is mirrored
    create_service(admin, ns, "web", selector={"app": "web"})
    write_endpoints(admin, ns, endpoints_body("web", ["10.4.1.2"], [], 5432))
    create_service(admin, ns, "probe")
    write_endpoints(admin, ns, endpoints_body("probe", ["10.4.1.3"], [], 5432))
    wait_for(lambda: mirrored(admin, ns, "probe"), "the mirrored slice of probe")
    assert mirrored(admin, ns, "web") == []

    # nor is the apiserver's own kubernetes Endpoints: Kubernetes labels it skip-mirror
    r = admin.get("/api/v1/namespaces/default/endpoints/kubernetes")
    assert r.json()["metadata"]["labels"][SKIP_MIRROR] == "true"
    assert mirrored(admin, "default", "kubernetes") == []
    for kind in ("endpoints", "services"):
        for name in ("grows", "web", "probe"):
            admin.delete(f"/api/v1/namespaces/{ns}/{kind}/{name}")
