"""Bounded decoding: YAML aliases and depth, protobuf varints, JSON patch copies, field schema,
query parameters, continue tokens, saturating time arithmetic (pure)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import kubernetes.client.models as client_models
import orjson
import pytest

from minik8s.api import decoding, errors, fieldschema, patch, protobuf, times
from minik8s.api.patch import strategic
from minik8s.apiserver import pagination, params


def test_yaml_aliases_within_reason_are_fine() -> None:
    doc = "base: &b {a: 1}\nx: *b\ny: *b\n"
    assert decoding.decode_yaml(doc) == {"base": {"a": 1}, "x": {"a": 1}, "y": {"a": 1}}


def test_yaml_alias_bomb_and_recursion_are_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefg"):
        lines.append(f"{name}: &{name} [" + ", ".join(["*" + "abcdefg"[i]] * 10) + "]")
    with pytest.raises(decoding.DecodeError, match="excessive aliasing"):
        decoding.decode_yaml("\n".join(lines))
    with pytest.raises(decoding.DecodeError, match="recursive"):
        decoding.decode_yaml("a: &a [*a]")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("a: !!binary aGVsbG8=", "bytes"),
        ("a: !!set {x, y}", "set"),
        ("a: .nan", "unsupported value"),
        ("? [1, 2]\n: x", "key"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 150)), "nested"),
    ],
)
def test_yaml_that_json_cannot_hold(doc: str, message: str) -> None:
    with pytest.raises(decoding.DecodeError, match=message):
        decoding.decode_yaml(doc)


def test_yaml_keys_and_timestamps_as_kubernetes_reads_them() -> None:
    assert decoding.decode_yaml("on: 2024-01-01\n2: x") == {"true": "2024-01-01", "2": "x"}


def test_json_depth_limit() -> None:
    decoding.decode_json(b"[" * 99 + b"]" * 99)
    with pytest.raises(decoding.DecodeError, match="nested"):
        decoding.decode_json(b"[" * 101 + b"]" * 101)


def test_protobuf_varints_are_capped_at_ten_bytes() -> None:
    with pytest.raises(protobuf.DecodeError, match="longer than 10 bytes"):
        protobuf.decode(protobuf.MAGIC + b"\x08" + b"\xff" * 100_000 + b"\x01")


@pytest.mark.parametrize(
    "body",
    [
        protobuf.MAGIC + b"\x0a\x06\x0a\x02\xff\xfe\x12\x00",  # apiVersion not UTF-8
        protobuf.MAGIC + b"\x0a\x04\x08\x01\x10\x02",  # varints where strings belong
        protobuf.MAGIC + b"\x09\x01",  # a truncated fixed64
    ],
)
def test_malformed_protobuf_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(protobuf.DecodeError):
        protobuf.decode(body)


def test_json_patch_copies_are_bounded() -> None:
    operations = [{"op": "add", "path": "/a", "value": {"x": "y" * 1000}}]
    operations += [{"op": "copy", "from": "/a", "path": f"/a/c{i}"} for i in range(30)]
    with pytest.raises(errors.RequestEntityTooLarge, match="accumulated size"):
        patch.apply_patch({}, orjson.dumps(operations), patch.JSON_PATCH, "Pod")


def test_strategic_merge_of_keyed_lists_matches_by_key() -> None:
    refs = [{"kind": "X", "name": f"n{i}", "uid": str(uuid.uuid4())} for i in range(4000)]
    target = {"metadata": {"ownerReferences": refs}}
    changed = [{**r, "name": r["name"] + "-x"} for r in reversed(refs)]
    merged = strategic.apply_strategic_merge_patch(
        target, {"metadata": {"ownerReferences": changed}}, "Pod"
    )
    assert merged["metadata"]["ownerReferences"] == changed


def test_field_schema_finds_unknown_fields_types_and_int64() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "foo": {"deep": 1}},
        "spec": {
            "containers": [{"name": "a", "ports": [{"containerPort": "80"}], "bad": 1}],
            "activeDeadlineSeconds": 2**63,
            "overhead": {"cpu": "1"},
        },
    }
    found = fieldschema.inspect("api.core.v1.Pod", pod, prune=True)
    assert found.unknown == ["metadata.foo", "spec.containers[0].bad"]
    assert found.out_of_range == [("spec.activeDeadlineSeconds", 2**63)]
    assert found.type_errors == [
        "json: cannot unmarshal string into Go struct field "
        "Pod.spec.containers[0].ports[0].containerPort of type int64"
    ]
    assert "foo" not in pod["metadata"] and "bad" not in pod["spec"]["containers"][0]


@pytest.mark.parametrize("text", ["\u00b2", "1e3", "", " 1", "0x10", str(2**63)])
def test_integer_parameters_are_ascii_int64(text: str) -> None:
    with pytest.raises(errors.BadRequest):
        params.parse_int(text, "limit")


def test_continue_tokens_round_trip_and_refuse_tampering() -> None:
    token = pagination.encode_continue("ns/name\x00", 42)
    assert pagination.decode_continue(token) == pagination.Continue(42, "ns/name\x00")
    for bad in ("x", pagination.encode_continue("../secrets", 1), "eyJ2IjoxfQ"):
        with pytest.raises(errors.BadRequest, match="invalid continue token"):
            pagination.decode_continue(bad)


def test_time_arithmetic_saturates() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert times.add_seconds(start, 10**12).year == 9999
    assert times.add_seconds(start, -(10**12)).year == 1
    assert times.add_seconds(start, 60) == datetime(2024, 1, 1, 0, 1, tzinfo=UTC)


def _client_type(text: str) -> str:
    for pattern in (r"list\[(.*)\]$", r"dict\(str, (.*)\)$"):
        match = re.match(pattern, text.strip())
        if match:
            return _client_type(match.group(1))
    return text.strip()


def test_field_schema_names_json_fields_as_the_kubernetes_client_does() -> None:
    """Every field the schema knows is a JSON field of the official client's models (so Go's
    embedded structs, `json:",inline"`, are flattened: `readinessProbe.httpGet`,
    `configMap.name`); the client may know newer fields (it follows later releases)."""
    roots = {
        "V1Pod": "api.core.v1.Pod", "V1Deployment": "api.apps.v1.Deployment",
        "V1Service": "api.core.v1.Service", "V1Node": "api.core.v1.Node",
        "V1Endpoints": "api.core.v1.Endpoints", "V1ConfigMap": "api.core.v1.ConfigMap",
        "CoreV1Event": "api.core.v1.Event", "V1Lease": "api.coordination.v1.Lease",
        "V1ReplicaSet": "api.apps.v1.ReplicaSet", "V1Binding": "api.core.v1.Binding",
        "V1DeleteOptions": "apimachinery.pkg.apis.meta.v1.DeleteOptions",
        "V1Secret": "api.core.v1.Secret", "V1ServiceAccount": "api.core.v1.ServiceAccount",
        "V1DaemonSet": "api.apps.v1.DaemonSet", "V1StatefulSet": "api.apps.v1.StatefulSet",
        "V1PersistentVolume": "api.core.v1.PersistentVolume",
        "V1PersistentVolumeClaim": "api.core.v1.PersistentVolumeClaim",
        "V1StorageClass": "api.storage.v1.StorageClass",
        "V1ControllerRevision": "api.apps.v1.ControllerRevision",
        "AuthenticationV1TokenRequest": "api.authentication.v1.TokenRequest",
        "V1Job": "api.batch.v1.Job", "V1CronJob": "api.batch.v1.CronJob",
        "V1ReplicationController": "api.core.v1.ReplicationController",
        "V1PodDisruptionBudget": "api.policy.v1.PodDisruptionBudget",
        "V1Eviction": "api.policy.v1.Eviction",
    }  # fmt: skip
    seen: set[tuple[str, str]] = set()
    unknown_to_client: list[str] = []
    pending = [(cls, message, cls) for cls, message in roots.items()]
    while pending:
        cls_name, message, path = pending.pop()
        model = getattr(client_models, cls_name, None)
        if model is None or (cls_name, message) in seen:
            continue
        seen.add((cls_name, message))
        known = fieldschema._fields_by_name(message)
        names = set(model.attribute_map.values())
        unknown_to_client += [f"{path}.{name}" for name in known if name not in names]
        for attribute, name in model.attribute_map.items():
            target = known.get(name, [None, None, None])[2]
            if target and "." in target:
                child = _client_type(model.openapi_types[attribute])
                pending.append((child, target, f"{path}.{name}"))
    assert len(seen) > 50  # the kinds and what they nest
    assert unknown_to_client == []


def test_embedded_structs_decode_into_their_parent_from_protobuf_too() -> None:
    """A Probe's handler and a configMap volume's reference are inline in JSON."""
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
        "spec": {
            "containers": [{"name": "a", "readinessProbe": {"httpGet": {"port": 80}}}],
            "volumes": [{"name": "v", "configMap": {"name": "cm"}}],
        },
    }  # fmt: skip
    assert fieldschema.inspect("api.core.v1.Pod", pod).unknown == []
    probe = b"\x0a\x08\x1a\x06\x0a\x04\x08\x00\x10\x50"  # handler.tcpSocket.port: 80
    decoded = protobuf._message(probe, "api.core.v1.Probe")
    assert decoded == {"tcpSocket": {"port": 80}}
