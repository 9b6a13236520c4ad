"""Inputs that used to stall or crash the apiserver: each gets a 4xx Status in bounded time,
nothing is written, and the server keeps serving (issue 17, one test per finding)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from minik8s.api import protobuf
from tests.support.api import Api, pod_manifest
from tests.support.processes import Apiserver

PODS = "/api/v1/namespaces/{ns}/pods"


def status_of(r: httpx.Response, code: int, reason: str | None = None) -> dict[str, Any]:
    assert r.status_code == code, r.text
    status = r.json()
    assert status["kind"] == "Status" and status["code"] == code, status
    if reason is not None:
        assert status["reason"] == reason, status
    assert "Traceback" not in r.text
    return status


def assert_absent(api: Api, path: str) -> None:
    assert api.get(path).status_code == 404, f"{path} was written for a rejected request"


# -- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "body"),
    [
        # one 3 MiB varint: quadratic before (minutes of a blocked event loop)
        ("long varint", protobuf.MAGIC + b"\x08" + b"\xff" * (3 * 1024 * 1024 - 10) + b"\x01"),
        ("truncated field", protobuf.MAGIC + b"\x0a\x20abc"),
        ("string that is not UTF-8", protobuf.MAGIC + b"\x0a\x06\x0a\x02\xff\xfe\x12\x00"),
        ("message where a varint belongs", protobuf.MAGIC + b"\x0a\x04\x08\x01\x10\x02"),
        ("no magic", b"\x0a\x00"),
    ],
)
def test_malformed_protobuf_is_400(api: Api, ns: str, label: str, body: bytes) -> None:
    r = api.post(
        PODS.format(ns=ns), body, headers={"Content-Type": protobuf.MEDIA_TYPE}, timeout=30
    )
    status_of(r, 400, "BadRequest")


def test_yaml_alias_bomb_is_refused(api: Api, ns: str) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    body = ("\n".join(lines) + "\nmetadata: {name: bomb}\n").encode()
    assert len(body) < 600  # expands to 10^9 scalars
    r = api.post(PODS.format(ns=ns), body, headers={"Content-Type": "application/yaml"})
    status = status_of(r, 400, "BadRequest")
    assert "excessive aliasing" in status["message"]
    assert_absent(api, f"{PODS.format(ns=ns)}/bomb")


def test_deeply_nested_bodies_are_refused(api: Api, ns: str) -> None:
    deep = "[" * 5000 + "]" * 5000
    r = api.post(PODS.format(ns=ns), '{"metadata": {"name": "deep"}, "x": ' + deep + "}")
    status_of(r, 400, "BadRequest")
    yaml_body = "metadata: {name: deep}\nx: " + deep
    r = api.post(PODS.format(ns=ns), yaml_body, headers={"Content-Type": "application/yaml"})
    status_of(r, 400, "BadRequest")
    assert_absent(api, f"{PODS.format(ns=ns)}/deep")


def test_unknown_fields_nested_past_orjsons_limit(api: Api, ns: str) -> None:
    """300 levels under an unknown field: dropped (Warn) or refused (Strict), never a 500."""
    manifest = pod_manifest("nested")
    value: Any = "leaf"
    for _ in range(90):  # within the decoding limit; past it is test_deeply_nested_bodies
        value = {"x": value}
    manifest["spec"]["containers"][0]["unknownField"] = value
    r = api.post(PODS.format(ns=ns), manifest, params={"fieldValidation": "Strict"})
    status = status_of(r, 400, "BadRequest")
    assert status["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].unknownField"'
    )
    r = api.post(PODS.format(ns=ns), manifest)
    assert r.status_code == 201, r.text
    assert "unknownField" not in r.json()["spec"]["containers"][0]


def test_json_patches_that_recurse_or_copy_without_end(api: Api, ns: str) -> None:
    assert api.post(PODS.format(ns=ns), pod_manifest("patched")).status_code == 201
    path = f"{PODS.format(ns=ns)}/patched"
    operations = [{"op": "add", "path": "/metadata/annotations", "value": {}}]
    deep_path = "/metadata/labels"
    operations.append({"op": "add", "path": deep_path, "value": {}})
    for _ in range(1500):  # each operation one level deeper: RecursionError before
        deep_path += "/a"
        operations.append({"op": "add", "path": deep_path, "value": {}})
    r = api.patch(path, operations, "application/json-patch+json")
    status_of(r, 422, "Invalid")
    copies = [{"op": "add", "path": "/metadata/annotations", "value": {"a": "x" * 1000}}]
    copies += [
        {"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/annotations/c{i}"}
        for i in range(40)  # doubles each time: 2^40 KB before
    ]
    r = api.patch(path, copies, "application/json-patch+json")
    status_of(r, 413, "RequestEntityTooLarge")
    merge = orjson.dumps({"metadata": {"labels": None}}).replace(b"null", b"[" * 100_000)
    r = api.patch(path, merge, "application/merge-patch+json")
    status_of(r, 400, "BadRequest")
    assert "annotations" not in (api.get(path).json()["metadata"])


def test_strategic_merge_of_long_keyed_lists_is_linear(api: Api, ns: str) -> None:
    """4 000 ownerReferences took 5.7 s (quadratic); now well within the client's timeout."""
    assert api.post(PODS.format(ns=ns), pod_manifest("owned")).status_code == 201
    references = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": f"o{i}", "uid": f"uid-{i:05d}"}
        for i in range(4000)
    ]
    body = {"metadata": {"ownerReferences": references}}
    path = f"{PODS.format(ns=ns)}/owned"
    r = api.patch(path, body, "application/strategic-merge-patch+json", timeout=10)
    assert r.status_code == 200, r.text[:300]
    body["metadata"]["ownerReferences"] = list(reversed(references))
    r = api.patch(path, body, "application/strategic-merge-patch+json", timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["metadata"]["ownerReferences"]) == 4000


# -- numbers and types --------------------------------------------------------------------


def test_huge_grace_periods(api: Api, ns: str) -> None:
    """10^12 s is a valid int64: deletion works (it used to raise in datetime); 10^30 is no
    int64: 422."""
    manifest = pod_manifest("graceful")
    manifest["spec"]["terminationGracePeriodSeconds"] = 10**12
    manifest["spec"]["nodeName"] = "no-such-node"  # bound: deletion is graceful
    r = api.post(PODS.format(ns=ns), manifest)
    assert r.status_code == 201, r.text
    path = f"{PODS.format(ns=ns)}/graceful"
    r = api.delete(path)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["deletionTimestamp"] == "9999-12-31T23:59:59Z"
    r = api.delete(path, json.dumps({"gracePeriodSeconds": 10**30}))  # orjson stops at 64 bits
    status = status_of(r, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "gracePeriodSeconds"
    r = api.delete(path, params={"gracePeriodSeconds": "99999999999999999999"})
    status_of(r, 400, "BadRequest")
    assert api.delete(path, {"gracePeriodSeconds": 0}).status_code == 200
    assert_absent(api, path)
    manifest["metadata"]["name"] = "too-long"
    manifest["spec"]["terminationGracePeriodSeconds"] = 10**30
    r = api.post(PODS.format(ns=ns), json.dumps(manifest))
    status = status_of(r, 422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "spec.terminationGracePeriodSeconds"
    assert_absent(api, f"{PODS.format(ns=ns)}/too-long")


def test_non_ascii_bearer_token_is_401(apiserver: Apiserver) -> None:
    with httpx.Client(base_url=apiserver.url, verify=apiserver.verify, timeout=10) as http:
        token = "Bearer t\u00e9st\u00ff".encode("latin-1")
        r = http.get("/api/v1/pods", headers={"Authorization": token})
        status_of(r, 401, "Unauthorized")
        r = http.get("/api/v1/pods", headers={"Authorization": "Bearer \u00e9".encode()})
        status_of(r, 401, "Unauthorized")


@pytest.mark.parametrize(
    "query",
    [
        {"watch": "1", "timeoutSeconds": "\u00b2"},  # "²".isdigit() is True
        {"limit": "\u00b3"},
        {"limit": "1e3"},
        {"watch": "maybe"},
        {"gracePeriodSeconds": "\u0661"},  # ARABIC-INDIC DIGIT ONE
        {"includeObject": "Everything"},
        {"dryRun": "all"},
        {"fieldValidation": "strict"},
        {"resourceVersionMatch": "Exact"},
        {"continue": "not-a-token"},
        {"continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIuLi8uLi9zZWNyZXRzIn0"},
    ],
)
def test_bad_query_parameters_are_4xx(api: Api, ns: str, query: dict[str, str]) -> None:
    method = "DELETE" if "gracePeriodSeconds" in query or "dryRun" in query else "GET"
    path = PODS.format(ns=ns) + ("/x" if method == "DELETE" else "")
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    if "fieldValidation" in query:
        method, path = "POST", PODS.format(ns=ns)
    r = api.request(
        method, path, pod_manifest("q") if method == "POST" else None, params=query,
        headers=headers,
    )  # fmt: skip
    assert r.status_code in (400, 422), r.text
    status_of(r, r.status_code)
    assert_absent(api, f"{PODS.format(ns=ns)}/q")


@pytest.mark.parametrize(
    "body",
    [
        {"preconditions": ["uid"]},
        {"preconditions": "x"},
        {"gracePeriodSeconds": "30"},
        {"propagationPolicy": 1},
        {"dryRun": "All"},
        [1, 2],
    ],
)
def test_delete_options_of_the_wrong_shape_are_400(api: Api, ns: str, body: Any) -> None:
    assert api.post(PODS.format(ns=ns), pod_manifest("kept")).status_code in (201, 409)
    r = api.delete(f"{PODS.format(ns=ns)}/kept", body)
    status_of(r, 400, "BadRequest")
    assert api.get(f"{PODS.format(ns=ns)}/kept").status_code == 200


@pytest.mark.parametrize(
    ("target", "code"),
    [("node-1", 400), (["node-1"], 400), ({"name": 7}, 400), ({}, 422), (None, 422)],
)
def test_bindings_of_the_wrong_shape(api: Api, ns: str, target: Any, code: int) -> None:
    assert api.post(PODS.format(ns=ns), pod_manifest("unbound")).status_code in (201, 409)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "unbound"}}
    if target is not None:
        binding["target"] = target
    r = api.post(f"{PODS.format(ns=ns)}/unbound/binding", binding)
    status_of(r, code)
    assert not api.get(f"{PODS.format(ns=ns)}/unbound").json()["spec"].get("nodeName")


# -- fieldValidation -------------------------------------------------------------------------


def test_field_validation_strict_warn_ignore(api: Api, ns: str) -> None:
    manifest = pod_manifest("fv")
    manifest["spec"]["containers"][0]["securityContex"] = {"runAsUser": 1}
    manifest["spec"]["bogus"] = 1
    r = api.post(PODS.format(ns=ns), manifest, params={"fieldValidation": "Strict"})
    status = status_of(r, 400, "BadRequest")
    assert status["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].securityContex", unknown field "spec.bogus"'
    )
    assert_absent(api, f"{PODS.format(ns=ns)}/fv")
    r = api.post(PODS.format(ns=ns), manifest, params={"fieldValidation": "Ignore"})
    assert r.status_code == 201 and "warning" not in r.headers
    assert "bogus" not in r.json()["spec"]
    path = f"{PODS.format(ns=ns)}/fv"
    patch = {"metadata": {"labels": {"a": "b"}}, "spec": {"nodeSelektor": {}}}
    r = api.patch(path, patch, "application/merge-patch+json", params={"fieldValidation": "Warn"})
    assert r.status_code == 200, r.text
    assert r.headers.get_list("warning") == ['299 - "unknown field \\"spec.nodeSelektor\\""']
    r = api.patch(path, patch, "application/merge-patch+json", params={"fieldValidation": "Strict"})
    status = status_of(r, 400, "BadRequest")
    assert status["message"] == 'strict decoding error: unknown field "spec.nodeSelektor"'
