"""Bad input gets the right 4xx Status with causes, and nothing is written."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.api import Api, deployment_manifest, pod_manifest


def pod(**changes: Any) -> dict[str, Any]:
    manifest = pod_manifest("bad")
    for path, value in changes.items():
        target = manifest
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value is DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return manifest


DELETE = object()
PODS = "/api/v1/namespaces/{ns}/pods"
DEPLOYS = "/apis/apps/v1/namespaces/{ns}/deployments"
SERVICES = "/api/v1/namespaces/{ns}/services"


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "main", "image": "nginx", **fields}


def service(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}], **spec},
    }


def deployment(**spec: Any) -> dict[str, Any]:
    manifest = deployment_manifest("bad")
    manifest["spec"].update(spec)
    return manifest


# (id, path, body, expected code, expected reason, expected first cause field or None)
CASES: list[tuple[str, str, Any, int, str, str | None]] = [
    ("uppercase name", PODS, pod(metadata__name="Bad_Name"), 422, "Invalid", "metadata.name"),
    ("missing name", PODS, pod(metadata__name=DELETE), 422, "Invalid", "metadata.name"),
    ("no containers", PODS, pod(spec__containers=[]), 422, "Invalid", "spec.containers"),
    (
        "missing image",
        PODS,
        pod(spec__containers=[{"name": "main"}]),
        422,
        "Invalid",
        "spec.containers[0].image",
    ),
    (
        "duplicate container names",
        PODS,
        pod(spec__containers=[container(), container()]),
        422,
        "Invalid",
        "spec.containers[1].name",
    ),
    (
        "bad container name",
        PODS,
        pod(spec__containers=[container(name="Main!")]),
        422,
        "Invalid",
        "spec.containers[0].name",
    ),
    (
        "port out of range",
        PODS,
        pod(spec__containers=[container(ports=[{"containerPort": 70000}])]),
        422,
        "Invalid",
        "spec.containers[0].ports[0].containerPort",
    ),
    (
        "port not a number",
        PODS,
        pod(spec__containers=[container(ports=[{"containerPort": "http"}])]),
        422,
        "Invalid",
        "spec.containers[0].ports[0].containerPort",
    ),
    (
        "bad protocol",
        PODS,
        pod(spec__containers=[container(ports=[{"containerPort": 80, "protocol": "ICMP"}])]),
        422,
        "Invalid",
        "spec.containers[0].ports[0].protocol",
    ),
    (
        "bad quantity",
        PODS,
        pod(spec__containers=[container(resources={"limits": {"cpu": "lots"}})]),
        422,
        "Invalid",
        None,
    ),
    (
        "bad restartPolicy",
        PODS,
        pod(spec__restartPolicy="Sometimes"),
        422,
        "Invalid",
        "spec.restartPolicy",
    ),
    (
        "bad imagePullPolicy",
        PODS,
        pod(spec__containers=[container(imagePullPolicy="Maybe")]),
        422,
        "Invalid",
        "spec.containers[0].imagePullPolicy",
    ),
    (
        "bad label value",
        PODS,
        pod(metadata__labels={"app": "has spaces"}),
        422,
        "Invalid",
        "metadata.labels",
    ),
    (
        "containers not a list",
        PODS,
        pod(spec__containers={"name": "x"}),
        422,
        "Invalid",
        "spec.containers",
    ),
    ("wrong kind", PODS, {**pod_manifest("bad"), "kind": "Service"}, 400, "BadRequest", None),
    (
        "wrong apiVersion",
        PODS,
        {**pod_manifest("bad"), "apiVersion": "apps/v1"},
        400,
        "BadRequest",
        None,
    ),
    (
        "namespace mismatch",
        PODS,
        {**pod_manifest("bad"), "metadata": {"name": "bad", "namespace": "elsewhere"}},
        400,
        "BadRequest",
        None,
    ),
    ("malformed json", PODS, b'{"apiVersion": "v1", "kind": "Pod", ', 400, "BadRequest", None),
    ("body not an object", PODS, b"[1, 2, 3]", 400, "BadRequest", None),
    ("empty body", PODS, b"", 400, "BadRequest", None),
    (
        "service port out of range",
        SERVICES,
        service(ports=[{"port": 0}]),
        422,
        "Invalid",
        "spec.ports[0].port",
    ),
    ("service bad type", SERVICES, service(type="Magic"), 422, "Invalid", "spec.type"),
    (
        "service duplicate port names",
        SERVICES,
        service(ports=[{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
        422,
        "Invalid",
        "spec.ports[1].name",
    ),
    (
        "service nodePort out of range",
        SERVICES,
        service(type="NodePort", ports=[{"port": 80, "nodePort": 80}]),
        422,
        "Invalid",
        "spec.ports[0].nodePort",
    ),
    (
        "deployment selector mismatch",
        DEPLOYS,
        deployment(selector={"matchLabels": {"app": "other"}}),
        422,
        "Invalid",
        "spec.template.metadata.labels",
    ),
    (
        "deployment negative replicas",
        DEPLOYS,
        deployment(replicas=-1),
        422,
        "Invalid",
        "spec.replicas",
    ),
    (
        "deployment missing selector",
        DEPLOYS,
        deployment(selector=None),
        422,
        "Invalid",
        "spec.selector",
    ),
    (
        "deployment restartPolicy Never",
        DEPLOYS,
        deployment(
            template={
                "metadata": {"labels": {"app": "bad"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "web", "image": "nginx"}],
                },
            }
        ),
        422,
        "Invalid",
        "spec.template.spec.restartPolicy",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "code", "reason", "field"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_create_is_rejected_and_writes_nothing(
    api: Api, ns: str, case: str, path: str, body: Any, code: int, reason: str, field: str | None
) -> None:
    collection = path.format(ns=ns)
    before = api.get(collection).json()
    response = api.post(collection, copy.deepcopy(body) if not isinstance(body, bytes) else body)
    assert response.status_code == code, f"{case}: {response.text}"
    status = response.json()
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["reason"] == reason, status
    assert status["code"] == code
    if field is not None:
        causes = status["details"]["causes"]
        assert any(c["field"] == field for c in causes), causes
    if code == 422:
        assert status["details"]["causes"], status
    after = api.get(collection).json()
    assert after["items"] == before["items"], "a rejected request wrote something"


def test_body_over_3_mib_is_413(api: Api, ns: str) -> None:
    manifest = pod_manifest("huge")
    manifest["metadata"]["annotations"] = {"blob": "x" * (3 * 1024 * 1024 + 10)}
    r = api.post(PODS.format(ns=ns), manifest)
    assert r.status_code == 413 and r.json()["reason"] == "RequestEntityTooLarge"


def test_unknown_resource_is_404_status(api: Api) -> None:
    r = api.get("/api/v1/namespaces/default/widgets")
    assert r.status_code == 404 and r.json()["kind"] == "Status"


def test_unsupported_method_is_405_status(api: Api, ns: str) -> None:
    r = api.request("PUT", PODS.format(ns=ns), pod_manifest("x"))
    assert r.status_code == 405 and r.json()["reason"] == "MethodNotAllowed"


def test_bad_label_selector_is_400(api: Api, ns: str) -> None:
    r = api.get(PODS.format(ns=ns), params={"labelSelector": "a in (b"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"


def test_bad_update_writes_nothing(api: Api, ns: str) -> None:
    path = PODS.format(ns=ns)
    api.post(path, pod_manifest("keep"))
    before = api.get(f"{path}/keep").json()
    broken = copy.deepcopy(before)
    broken["spec"]["containers"][0]["image"] = ""
    r = api.put(f"{path}/keep", broken)
    assert r.status_code == 422, r.text
    r = api.patch(f"{path}/keep", b'{"spec": ', "application/merge-patch+json")
    assert r.status_code == 400, r.text
    r = api.patch(
        f"{path}/keep", {"spec": {"restartPolicy": "Never"}}, "application/merge-patch+json"
    )
    assert r.status_code == 422, r.text  # pod spec is immutable
    after = api.get(f"{path}/keep").json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
