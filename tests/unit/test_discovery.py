"""Discovery documents: shapes kubectl 1.32 reads, legacy and aggregated forms agreeing."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.apiserver import discovery

KUBECTL_DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


def _rows_by_name(group: str, version: str) -> dict[str, dict[str, Any]]:
    document = discovery.api_resource_list(group, version)
    assert document is not None
    return {row["name"]: row for row in document["resources"]}


def test_version_reports_minor_32_and_a_minik8s_git_version() -> None:
    info = discovery.version_info()
    assert info["major"] == "1"
    assert info["minor"] == "32"
    assert info["gitVersion"].startswith("v1.32.0-minik8s.")
    expected = {
        "major", "minor", "gitVersion", "gitCommit", "gitTreeState",
        "buildDate", "goVersion", "compiler", "platform",
    }  # fmt: skip
    assert set(info) == expected
    assert all(isinstance(value, str) for value in info.values())


def test_api_versions_lists_v1_and_the_server_address() -> None:
    assert discovery.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}
        ],
    }


def test_api_group_list_names_only_served_groups() -> None:
    document = discovery.api_group_list()
    assert document["kind"] == "APIGroupList"
    names = [g["name"] for g in document["groups"]]
    assert names[:2] == ["apps", "coordination.k8s.io"] and "storage.k8s.io" in names
    assert "batch" in names and "policy" in names
    assert {"rbac.authorization.k8s.io", "authentication.k8s.io", "authorization.k8s.io"} <= set(
        names
    )
    assert len(names) == len(set(names))
    apps = document["groups"][0]
    assert apps["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


def test_api_group_for_served_and_unserved_groups() -> None:
    apps = discovery.api_group("apps")
    assert apps is not None and apps["kind"] == "APIGroup" and apps["name"] == "apps"
    assert discovery.api_group("example.com") is None


def test_core_resource_list_rows() -> None:
    document = discovery.api_resource_list("", "v1")
    assert document is not None
    assert document["kind"] == "APIResourceList" and document["groupVersion"] == "v1"
    names = [row["name"] for row in document["resources"]]
    assert names == sorted(names)

    rows = _rows_by_name("", "v1")
    pods = rows["pods"]
    assert (pods["singularName"], pods["namespaced"], pods["kind"]) == ("pod", True, "Pod")
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert "list" in pods["verbs"] and pods["storageVersionHash"]
    assert rows["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert rows["pods/status"]["kind"] == "Pod" and "group" not in rows["pods/status"]
    assert (rows["pods/binding"]["kind"], rows["pods/binding"]["verbs"]) == ("Binding", ["create"])
    assert (rows["pods/log"]["kind"], rows["pods/log"]["verbs"]) == ("Pod", ["get"])
    assert rows["pods/exec"]["kind"] == "PodExecOptions"
    assert rows["pods/exec"]["verbs"] == ["create", "get"]
    assert rows["bindings"] == {
        "name": "bindings",
        "singularName": "binding",
        "namespaced": True,
        "kind": "Binding",
        "verbs": ["create"],
    }
    assert rows["namespaces/finalize"]["verbs"] == ["update"]
    assert rows["nodes"]["namespaced"] is False and rows["nodes/status"]["namespaced"] is False
    assert "services/status" in rows


def test_apps_scale_subresources_speak_autoscaling_v1_scale() -> None:
    rows = _rows_by_name("apps", "v1")
    for name in ("deployments/scale", "replicasets/scale"):
        row = rows[name]
        assert (row["group"], row["version"], row["kind"]) == ("autoscaling", "v1", "Scale")
        assert row["verbs"] == ["get", "patch", "update"]
    assert rows["deployments/status"]["kind"] == "Deployment"
    assert "group" not in rows["deployments/status"]
    assert rows["deployments"]["shortNames"] == ["deploy"]


def test_unserved_group_versions_have_no_resource_list() -> None:
    assert discovery.api_resource_list("example.com", "v1") is None
    assert discovery.api_resource_list("", "v2") is None


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_DISCOVERY_ACCEPT, True),
        ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", True),
        ("application/json", False),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", False),
        ("", False),
        (None, False),
    ],
)
def test_wants_aggregated_discovery(accept: str | None, expected: bool) -> None:
    assert discovery.wants_aggregated_discovery(accept) is expected


def _legacy_rows_from_aggregated(version_entry: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What a client derives from aggregated discovery (as client-go does)."""
    rows: dict[str, tuple[Any, ...]] = {}
    for entry in version_entry["resources"]:
        namespaced = entry["scope"] == "Namespaced"
        kind = entry["responseKind"]
        rows[entry["resource"]] = (namespaced, kind["kind"], tuple(entry["verbs"]))
        for sub in entry.get("subresources", []):
            sub_kind = sub["responseKind"]
            assert sub_kind["kind"], "a subresource without a kind is dropped by clients"
            name = f"{entry['resource']}/{sub['subresource']}"
            rows[name] = (namespaced, sub_kind["kind"], tuple(sub["verbs"]))
    return rows


def test_aggregated_discovery_agrees_with_legacy_documents() -> None:
    core = discovery.aggregated_discovery(legacy_core=True)
    assert (core["kind"], core["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    assert len(core["items"]) == 1 and core["items"][0]["metadata"] == {}
    named = discovery.aggregated_discovery(legacy_core=False)
    legacy_groups = [g["name"] for g in discovery.api_group_list()["groups"]]
    assert [item["metadata"]["name"] for item in named["items"]] == legacy_groups

    for item in [*core["items"], *named["items"]]:
        group = item["metadata"].get("name", "")
        for version_entry in item["versions"]:
            assert version_entry["freshness"] == "Current"
            legacy = {
                name: (row["namespaced"], row["kind"], tuple(row["verbs"]))
                for name, row in _rows_by_name(group, version_entry["version"]).items()
            }
            assert _legacy_rows_from_aggregated(version_entry) == legacy


def test_aggregated_scale_subresource_kind() -> None:
    named = discovery.aggregated_discovery(legacy_core=False)
    apps = named["items"][0]["versions"][0]["resources"]
    deployments = next(r for r in apps if r["resource"] == "deployments")
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert deployments["singularResource"] == "deployment"
