"""OpenAPI v3 documents: what kubectl's field-validation check and apply patcher look at."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from minik8s.api import resources
from minik8s.apiserver import discovery, openapi, openapi_serving

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _document(group: str, version: str) -> dict[str, Any]:
    document = openapi.openapi_v3_group_version(group, version)
    assert document is not None
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def test_index_points_at_every_served_group_version() -> None:
    documents = openapi_serving.Documents()
    index = json.loads(documents.v3_index.body)
    assert {
        "api/v1",
        "apis/apps/v1",
        "apis/storage.k8s.io/v1",
        "apis/batch/v1",
        "apis/policy/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/authentication.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
        "apis/autoscaling/v2",
    } <= set(index["paths"])
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url == f"/openapi/v3/{key}?hash={documents.v3[key].etag}"
        body = documents.v3[key].body
        assert documents.v3[key].etag == hashlib.sha512(body).hexdigest().upper()


def test_unserved_group_version_has_no_document() -> None:
    assert openapi.openapi_v3_group_version("example.com", "v1") is None


@pytest.mark.parametrize(
    "rt", [r for r in resources.RESOURCES if "patch" in r.verbs], ids=lambda rt: rt.plural
)
def test_every_patch_operation_of_a_kind_lists_field_validation(
    rt: resources.ResourceType,
) -> None:
    """kubectl stops at the first PATCH operation tagged with the kind (in map order), and
    reads parameter names inline: every such operation must carry fieldValidation."""
    gvk = discovery.resource_kind(rt).as_dict()
    patches = [
        op
        for _, method, op in _operations(_document(rt.group, rt.version))
        if method == "patch" and op["x-kubernetes-group-version-kind"] == gvk
    ]
    assert patches, f"no PATCH operation for {gvk}"
    for op in patches:
        names = [p["name"] for p in op["parameters"]]
        assert "fieldValidation" in names
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]


def test_every_operation_is_tagged_with_a_group_version_kind() -> None:
    for group, version in resources.group_versions():
        for path, method, op in _operations(_document(group, version)):
            gvk = op["x-kubernetes-group-version-kind"]
            assert set(gvk) == {"group", "version", "kind"}, (path, method)
            assert op["x-kubernetes-action"]


def test_paths_for_pods_and_deployment_scale() -> None:
    core = _document("", "v1")["paths"]
    assert {"get", "post", "delete"} <= set(core["/api/v1/namespaces/{namespace}/pods"])
    item = core["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert {"get", "put", "patch", "delete"} <= set(item)
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace"]
    assert "/api/v1/pods" in core and "/api/v1/nodes/{name}/status" in core
    binding = core["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]
    assert binding["x-kubernetes-group-version-kind"]["kind"] == "Binding"

    apps = _document("apps", "v1")["paths"]
    scale = apps["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }


def test_kinds_have_full_schemas_tagged_with_their_kind() -> None:
    """kubectl explain and client-side apply find a kind's schema by its GVK."""
    for group, version in resources.group_versions():
        schemas = _document(group, version)["components"]["schemas"]
        for rt in resources.RESOURCES:
            if (rt.group, rt.version) != (group, version):
                continue
            gvk = discovery.resource_kind(rt)
            tagged = [
                s
                for s in schemas.values()
                if gvk.as_dict() in s.get("x-kubernetes-group-version-kind", [])
            ]
            assert len(tagged) == 1, gvk
            assert {"apiVersion", "kind", "metadata"} <= set(tagged[0]["properties"])


def test_merge_lists_carry_patch_and_list_metadata() -> None:
    schemas = _document("", "v1")["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    args = schemas["io.k8s.api.core.v1.Container"]["properties"]["args"]
    assert args["x-kubernetes-list-type"] == "atomic"
    assert "x-kubernetes-patch-strategy" not in args
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["finalizers"]["x-kubernetes-list-type"] == "set"
    selector = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]
    assert selector["x-kubernetes-map-type"] == "atomic"


def test_every_reference_resolves() -> None:
    for group, version in resources.group_versions():
        document = _document(group, version)
        text = json.dumps(document)
        schemas = document["components"]["schemas"]
        prefix = '"$ref": "#/components/schemas/'
        for chunk in text.split(prefix)[1:]:
            assert chunk.split('"', 1)[0] in schemas


def test_document_header() -> None:
    document = _document("", "v1")
    assert document["openapi"] == "3.0.0"
    assert document["info"]["version"].startswith("v1.32.0-minik8s.")
