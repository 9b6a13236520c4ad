"""PATCH bodies: merge patch, JSON patch, strategic merge patch, apply, and their errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from minik8s.api import errors, patch

REJECTED = "the server rejected our request due to an error in our request"


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a", "b"],
            "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1",
                    "args": ["-x"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                },
                {"name": "sidecar", "image": "busybox"},
            ],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
        },
    }


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


# --- JSON merge patch (RFC 7386) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "merge_patch", "expected"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": 1}, {"x": None}, {"a": 1}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": 3}}, {"a": {"b": 1, "d": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"b": 1}}, {"a": "text"}, {"a": "text"}),
        ({"a": "text"}, {"a": {"b": 1, "c": None}}, {"a": {"b": 1}}),
        ({"a": [{"b": 1}]}, {"a": [{"c": None}]}, {"a": [{"c": None}]}),
        ({}, {}, {}),
    ],
)
def test_merge_patch_follows_rfc_7386(
    target: dict[str, Any], merge_patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert patch.apply_merge_patch(target, merge_patch) == expected


@pytest.mark.parametrize("body", [b"[1]", b"null", b'"text"', b"{"])
def test_merge_patch_must_be_an_object(body: bytes) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        patch.apply_patch(pod(), body, patch.MERGE_PATCH, "Pod")
    assert caught.value.message == "Invalid JSON Patch"


def test_merge_patch_replaces_lists_of_objects_wholesale() -> None:
    body = {"spec": {"containers": [{"name": "only", "image": "x"}]}}
    result = patch.apply_merge_patch(pod(), body)
    assert result["spec"]["containers"] == [{"name": "only", "image": "x"}]


# --- JSON patch (RFC 6902) -----------------------------------------------------------------


def at(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj.get(part)
    return obj


@pytest.mark.parametrize(
    ("operations", "field", "expected"),
    [
        ([{"op": "add", "path": "/metadata/labels/env", "value": "p"}], "metadata.labels.env", "p"),
        (
            [{"op": "replace", "path": "/status/phase", "value": "Running"}],
            "status.phase",
            "Running",
        ),
        ([{"op": "remove", "path": "/metadata/labels/tier"}], "metadata.labels.tier", None),
        (
            [
                {"op": "test", "path": "/metadata/labels/tier", "value": "front"},
                {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/t"},
            ],
            "metadata.labels.t",
            "front",
        ),
        (
            [{"op": "copy", "from": "/metadata/name", "path": "/spec/hostname"}],
            "spec.hostname",
            "web",
        ),
        (
            [{"op": "add", "path": "/spec/containers/-", "value": {"name": "c3"}}],
            "spec.containers.2.name",
            "c3",
        ),
        (
            [{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}],
            "metadata.finalizers.0",
            "z",
        ),
        ([], "metadata.name", "web"),
    ],
)
def test_json_patch_operations(operations: list[dict[str, Any]], field: str, expected: Any) -> None:
    assert at(patch.apply_json_patch(pod(), operations), field) == expected


@pytest.mark.parametrize(
    ("operations", "detail"),
    [
        (
            [{"op": "test", "path": "/metadata/name", "value": "other"}],
            "testing value /metadata/name failed: test failed",
        ),
        (
            [{"op": "remove", "path": "/metadata/annotations"}],
            "remove operation does not apply: doc is missing path: /metadata/annotations: "
            "missing value",
        ),
        (
            [{"op": "replace", "path": "/spec/nodeName", "value": "n"}],
            "replace operation does not apply: doc is missing path: /spec/nodeName: missing value",
        ),
        (
            [{"op": "add", "path": "/spec/missing/deeper", "value": 1}],
            "add operation does not apply: doc is missing path: /spec/missing/deeper: "
            "missing value",
        ),
        (
            [{"op": "move", "from": "/nope", "path": "/x"}],
            "move operation does not apply: doc is missing from path: /nope",
        ),
        ([{"op": "explode", "path": "/x"}], "Unknown operation 'explode'"),
        ([{"op": "add", "path": "x", "value": 1}], "Location must start with /"),
        (
            [{"op": "replace", "path": "", "value": [1]}],
            "the patched document is not a JSON object",
        ),
    ],
)
def test_json_patch_that_cannot_apply_is_422(operations: list[dict[str, Any]], detail: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        patch.apply_json_patch(pod(), operations)
    assert caught.value.code == 422
    assert caught.value.message == REJECTED
    assert [cause.message for cause in caught.value.causes] == [detail]


def test_failed_json_patch_leaves_no_trace() -> None:
    target = pod()
    operations = [
        {"op": "add", "path": "/metadata/labels/x", "value": "1"},
        {"op": "test", "path": "/metadata/name", "value": "other"},
    ]
    with pytest.raises(errors.Invalid):
        patch.apply_json_patch(target, operations)
    assert target == pod()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"op": "add"}', "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        (b'["add"]', "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        (b"[{", "error decoding patch: unexpected end of data"),
    ],
)
def test_malformed_json_patch_is_400(body: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        patch.apply_patch(pod(), body, patch.JSON_PATCH, "Pod")
    assert caught.value.message.startswith(message)


def test_json_patch_operation_count_is_limited() -> None:
    operations = [{"op": "test", "path": "/kind", "value": "Pod"}] * 10_001
    with pytest.raises(errors.RequestEntityTooLarge, match="maximum operations"):
        patch.apply_json_patch(pod(), operations)


# --- strategic merge patch -----------------------------------------------------------------


def smp(kind: str, target: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return patch.apply_strategic_merge_patch(target, body, kind)


@pytest.mark.parametrize(
    ("body", "expected_names"),
    [
        ({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}, ["app", "sidecar"]),
        # A new item comes before the untouched ones, as in Kubernetes.
        ({"spec": {"containers": [{"name": "new", "image": "redis"}]}}, ["new", "app", "sidecar"]),
        ({"spec": {"containers": [{"name": "app", "$patch": "delete"}]}}, ["sidecar"]),
        (
            {"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}},
            ["only"],
        ),
        (
            {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "app"},
                        {"name": "sidecar"},
                        {"name": "new"},
                    ],
                    "containers": [{"name": "new", "image": "redis"}],
                }
            },
            ["app", "sidecar", "new"],
        ),
        (
            {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}},
            ["sidecar", "app"],
        ),
    ],
)
def test_containers_merge_by_name(body: dict[str, Any], expected_names: list[str]) -> None:
    result = smp("Pod", pod(), body)
    assert names(result["spec"]["containers"]) == expected_names


def test_merged_container_keeps_what_the_patch_leaves_out() -> None:
    body = {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}
    app = smp("Pod", pod(), body)["spec"]["containers"][0]
    assert app["image"] == "nginx:2"
    assert app["args"] == ["-x"]
    assert names(app["env"]) == ["A", "B"]


@pytest.mark.parametrize(
    ("env_patch", "expected"),
    [
        ([{"name": "B", "value": "3"}], [("A", "1"), ("B", "3")]),
        ([{"name": "C", "value": "4"}], [("C", "4"), ("A", "1"), ("B", "2")]),
        ([{"name": "A", "$patch": "delete"}], [("B", "2")]),
        ([{"name": "B", "value": None, "valueFrom": {"fieldRef": {}}}], [("A", "1"), ("B", None)]),
    ],
)
def test_env_merges_by_name(
    env_patch: list[dict[str, Any]], expected: list[tuple[str, str | None]]
) -> None:
    body = {"spec": {"containers": [{"name": "app", "env": env_patch}]}}
    env = smp("Pod", pod(), body)["spec"]["containers"][0]["env"]
    assert [(var["name"], var.get("value")) for var in env] == expected


def test_container_ports_merge_by_container_port() -> None:
    ports = [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]
    body = {"spec": {"containers": [{"name": "app", "ports": ports}]}}
    merged = smp("Pod", pod(), body)["spec"]["containers"][0]["ports"]
    assert merged == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 443},
    ]


def test_pod_template_lists_merge_in_deployments() -> None:
    deployment = {"spec": {"template": {"spec": pod()["spec"]}}}
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "v2"}]}}}}
    containers = smp("Deployment", deployment, body)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "v2"),
        ("sidecar", "busybox"),
    ]


@pytest.mark.parametrize("kind", ["Pod", "Node", "Deployment", "ReplicaSet", "Namespace"])
def test_status_conditions_merge_by_type(kind: str) -> None:
    target = {"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B"}]}}
    body = {"status": {"conditions": [{"type": "B", "status": "False"}]}}
    assert smp(kind, target, body)["status"]["conditions"] == [
        {"type": "A", "status": "True"},
        {"type": "B", "status": "False"},
    ]


@pytest.mark.parametrize(
    ("kind", "target", "body", "expected"),
    [
        (
            "Service",
            {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
        ),
        (
            "Node",
            {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}},
            {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}},
            {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}},
        ),
        (
            "Node",
            {"status": {"addresses": [{"type": "InternalIP", "address": "1"}, {"type": "H"}]}},
            {"status": {"addresses": [{"type": "InternalIP", "address": "2"}]}},
            {"status": {"addresses": [{"type": "InternalIP", "address": "2"}, {"type": "H"}]}},
        ),
        (
            "Endpoints",
            {"subsets": [{"addresses": [{"ip": "1"}], "ports": [{"port": 80}]}]},
            {"subsets": [{"addresses": [{"ip": "2"}]}]},
            {"subsets": [{"addresses": [{"ip": "2"}]}]},
        ),
        (
            "Pod",
            {"spec": {"tolerations": [{"key": "a"}]}},
            {"spec": {"tolerations": [{"key": "b"}]}},
            {"spec": {"tolerations": [{"key": "b"}]}},
        ),
        (
            "ConfigMap",
            {"data": {"a": "1", "b": "2"}},
            {"data": {"a": None, "c": "3"}},
            {"data": {"b": "2", "c": "3"}},
        ),
        (
            "Widget",
            {"spec": {"items": [{"name": "a"}]}, "metadata": {"finalizers": ["x"]}},
            {"spec": {"items": [{"name": "b"}]}, "metadata": {"finalizers": ["y"]}},
            {"spec": {"items": [{"name": "b"}]}, "metadata": {"finalizers": ["y", "x"]}},
        ),
    ],
)
def test_merge_keys_follow_kubernetes_struct_tags(
    kind: str, target: dict[str, Any], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert smp(kind, target, body) == expected


def test_owner_references_merge_by_uid() -> None:
    body = {"metadata": {"ownerReferences": [{"uid": "u2", "kind": "Deployment", "name": "d"}]}}
    references = smp("Pod", pod(), body)["metadata"]["ownerReferences"]
    assert [reference["uid"] for reference in references] == ["u2", "u1"]


@pytest.mark.parametrize(
    ("metadata_patch", "expected"),
    [
        ({"finalizers": ["c"]}, ["c", "a", "b"]),
        ({"finalizers": ["b", "c"]}, ["a", "b", "c"]),
        ({"finalizers": ["a"]}, ["a", "b"]),
        ({"$deleteFromPrimitiveList/finalizers": ["a"]}, ["b"]),
        ({"$deleteFromPrimitiveList/finalizers": ["zzz"]}, ["a", "b"]),
        ({"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}, ["b", "c", "a"]),
        (
            {"$setElementOrder/finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            ["b"],
        ),
        ({"finalizers": None}, None),
        ({"finalizers": []}, ["a", "b"]),
    ],
)
def test_finalizers_merge_as_an_ordered_set(
    metadata_patch: dict[str, Any], expected: list[str] | None
) -> None:
    result = smp("Pod", pod(), {"metadata": metadata_patch})
    assert result["metadata"].get("finalizers") == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"spec": {"strategy": {"type": "Recreate"}}}, {"type": "Recreate", "x": {"y": 1}}),
        ({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}, {"type": "Recreate"}),
        ({"spec": {"strategy": {"$patch": "delete"}}}, {}),
        (
            {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
            {"type": "Recreate"},
        ),
        ({"spec": {"strategy": {"x": None}}}, {"type": "RollingUpdate"}),
        (
            {"spec": {"strategy": {"x": {"y": None, "z": [None]}}}},
            {"type": "RollingUpdate", "x": {"z": [None]}},
        ),
    ],
)
def test_map_directives(body: dict[str, Any], expected: dict[str, Any]) -> None:
    deployment = {"spec": {"strategy": {"type": "RollingUpdate", "x": {"y": 1}}}}
    assert smp("Deployment", deployment, body)["spec"]["strategy"] == expected


def test_retain_keys_in_a_volume_switch_its_source() -> None:
    body = {
        "spec": {
            "volumes": [
                {"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/d"}}
            ]
        }
    }
    assert smp("Pod", pod(), body)["spec"]["volumes"] == [
        {"name": "data", "hostPath": {"path": "/d"}}
    ]


def test_new_values_lose_their_nulls_and_directives() -> None:
    body = {"spec": {"affinity": {"nodeAffinity": None, "podAffinity": {"$patch": "replace"}}}}
    assert smp("Pod", pod(), body)["spec"]["affinity"] == {"podAffinity": {}}


def test_a_value_of_another_type_replaces() -> None:
    body = {"spec": {"volumes": {"name": "odd"}}, "status": {"phase": {"nested": 1}}}
    result = smp("Pod", pod(), body)
    assert result["spec"]["volumes"] == {"name": "odd"}
    assert result["status"]["phase"] == {"nested": 1}


def test_a_new_merge_list_is_taken_as_given() -> None:
    body = {"spec": {"initContainers": [{"image": "x"}, {"name": "gone", "$patch": "delete"}]}}
    assert smp("Pod", pod(), body)["spec"]["initContainers"] == [{"image": "x"}]


def test_null_strategic_patch_changes_nothing() -> None:
    assert patch.apply_patch(pod(), b"null", patch.STRATEGIC_MERGE_PATCH, "Pod") == pod()


def test_kubectl_apply_patch_with_element_orders() -> None:
    """The shape `kubectl apply` sends after editing a container and removing a finalizer."""
    body = {
        "metadata": {
            "$setElementOrder/finalizers": ["b"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "labels": {"tier": None},
        },
        "spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                    "name": "app",
                    "image": "nginx:2",
                    "env": [{"name": "B", "value": "22"}],
                }
            ],
        },
    }
    result = smp("Pod", pod(), body)
    assert result["metadata"]["finalizers"] == ["b"]
    assert result["metadata"]["labels"] == {"app": "web"}
    assert names(result["spec"]["containers"]) == ["sidecar", "app"]
    app = result["spec"]["containers"][1]
    assert app["image"] == "nginx:2"
    assert [(var["name"], var["value"]) for var in app["env"]] == [("B", "22"), ("A", "1")]
    assert "$" not in json.dumps(result)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"$weird": 1}, errors.BadRequest, "unknown strategic merge patch directive: $weird"),
        ({"spec": {"$patch": "explode"}}, errors.BadRequest, "unknown patch type: explode"),
        (
            {"spec": {"containers": [{"image": "x"}]}},
            errors.BadRequest,
            'map: {"image": "x"} does not contain declared merge key: name',
        ),
        (
            {"spec": {"containers": [{"name": "app", "$patch": "merge"}]}},
            errors.BadRequest,
            "merging lists cannot yet be specified in the patch",
        ),
        ({"spec": {"containers": ["app"]}}, errors.BadRequest, "expected a map"),
        ({"metadata": {"finalizers": [["a"]]}}, errors.Invalid, REJECTED),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            errors.BadRequest,
            "invalid patch format of primitive list",
        ),
        (
            {"metadata": {"$setElementOrder/finalizers": "a"}},
            errors.BadRequest,
            "invalid patch format of setElementOrder list",
        ),
        (
            {"metadata": {"$retainKeys": ["name"], "labels": {}}},
            errors.BadRequest,
            "invalid patch format of retainKeys",
        ),
        (
            {"metadata": {"$setElementOrder/finalizers": ["a"], "finalizers": ["c"]}},
            errors.BadRequest,
            "The order in patch list",
        ),
    ],
)
def test_bad_strategic_patches(
    body: dict[str, Any], error: type[errors.ApiError], message: str
) -> None:
    with pytest.raises(error) as caught:
        smp("Pod", pod(), body)
    assert caught.value.message.startswith(message)


# --- dispatch on Content-Type, and server-side apply ----------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (patch.MERGE_PATCH, {"metadata": {"labels": {"x": "1"}}}),
        ("application/merge-patch+json; charset=utf-8", {"metadata": {"labels": {"x": "1"}}}),
        (patch.STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {"x": "1"}}}),
        (patch.JSON_PATCH, [{"op": "add", "path": "/metadata/labels/x", "value": "1"}]),
        (patch.APPLY_PATCH, {"metadata": {"labels": {"x": "1"}}}),
    ],
)
def test_every_patch_type_applies_without_touching_its_inputs(content_type: str, body: Any) -> None:
    target = pod()
    encoded = json.dumps(body).encode()
    result = patch.apply_patch(target, encoded, content_type, "Pod")
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front", "x": "1"}
    assert target == pod()
    result["spec"]["containers"][0]["env"].clear()
    assert target == pod()


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/apply-patch+cbor", ""]
)
def test_unknown_patch_types_are_415(content_type: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        patch.apply_patch(pod(), b"{}", content_type, "Pod")
    assert caught.value.code == 415
    assert caught.value.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (patch.STRATEGIC_MERGE_PATCH, b"{nope", "error decoding patch: "),
        (patch.STRATEGIC_MERGE_PATCH, b"[]", "json: cannot unmarshal array into Go value"),
        (patch.STRATEGIC_MERGE_PATCH, b'{"a": NaN}', "error decoding patch: "),
        (patch.STRATEGIC_MERGE_PATCH, b"\xff", "error decoding patch: "),
        (patch.APPLY_PATCH, b"a: [", "error decoding YAML: "),
        (patch.APPLY_PATCH, b"- a\n- b\n", "error decoding YAML: error unmarshaling JSON"),
        (patch.APPLY_PATCH, b"", "error decoding YAML: the applied configuration is empty"),
    ],
)
def test_unparseable_bodies_are_400(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        patch.apply_patch(pod(), body, content_type, "Pod")
    assert caught.value.message.startswith(message)


def test_apply_merges_lists_by_merge_key_and_keeps_timestamps_as_strings() -> None:
    applied = b"""
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    deployed-at: 2024-05-01T10:00:00Z
    on: yes
spec:
  containers:
  - name: app
    image: nginx:3
  - name: extra
    image: redis
"""
    result = patch.apply_patch(pod(), applied, patch.APPLY_PATCH, "Pod")
    assert result["metadata"]["annotations"] == {
        "deployed-at": "2024-05-01T10:00:00Z",
        "true": True,
    }
    assert names(result["spec"]["containers"]) == ["app", "extra", "sidecar"]
    assert result["spec"]["containers"][0]["image"] == "nginx:3"
    assert result["spec"]["containers"][0]["env"] == pod()["spec"]["containers"][0]["env"]


def test_apply_onto_nothing_creates_the_object() -> None:
    applied = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: v\n"
    result = patch.apply_patch({}, applied, patch.APPLY_PATCH, "ConfigMap")
    assert result == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "v"},
    }


def test_strategic_patch_does_not_alias_the_patch() -> None:
    body = {"spec": {"containers": [{"name": "new", "env": [{"name": "X", "value": "1"}]}]}}
    original = copy.deepcopy(body)
    result = smp("Pod", pod(), body)
    result["spec"]["containers"][0]["env"].append({"name": "Y"})
    assert body == original
