"""Protobuf request bodies (as kubectl v1.32 sends them) decode to the JSON form of the object."""

from __future__ import annotations

import pytest

from minik8s.api import protobuf

# Captured from `kubectl -v=9 create namespace t1`, `create deployment web2 --image=nginx
# --replicas=3 -n t1` and `create configmap cm1 --from-literal=a=b -n t1`.
NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121a0a120a02743112001a0022002a00320038"
    "00420012001a020a001a002200"
)
DEPLOYMENT = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b1010a230a04776562321200"
    "1a02743122002a003200380042005a0b0a03617070120477656232127c0803120d0a0b0a03617070"
    "1204776562321a610a1d0a0012001a0022002a003200380042005a0b0a0361707012047765623212"
    "4012220a056e67696e7812056e67696e782a0042006a007200800100880100900100a201001a0032"
    "0042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018"
    "002000280038001a002200"
)
CONFIGMAP = bytes.fromhex(
    "6b3873000a0f0a0276311209436f6e6669674d6170121f0a150a03636d3112001a02743122002a00"
    "32003800420012060a01611201621a002200"
)


def test_namespace() -> None:
    assert protobuf.decode(NAMESPACE) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "t1"},
        "spec": {},
        "status": {},
    }


def test_deployment_keeps_numbers_and_drops_empty_strings() -> None:
    obj = protobuf.decode(DEPLOYMENT)
    assert (obj["apiVersion"], obj["kind"]) == ("apps/v1", "Deployment")
    assert obj["metadata"] == {
        "name": "web2",
        "namespace": "t1",
        "labels": {"app": "web2"},
    }
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "web2"}}
    container = spec["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["resources"]) == ("nginx", "nginx", {})
    assert spec["template"]["metadata"] == {"labels": {"app": "web2"}}
    assert "stdin" not in container and "hostIPC" not in spec["template"]["spec"]  # false: omitted
    assert "minReadySeconds" not in spec and spec["strategy"] == {}


def test_explicit_zero_of_a_pointer_field_is_kept() -> None:
    # DeploymentSpec{replicas: 0}: field 1, varint 0
    assert protobuf._message(b"\x08\x00", "api.apps.v1.DeploymentSpec") == {"replicas": 0}
    # DeleteOptions{gracePeriodSeconds: 0}
    options = protobuf._message(b"\x08\x00", "apimachinery.pkg.apis.meta.v1.DeleteOptions")
    assert options == {"gracePeriodSeconds": 0}


def test_configmap() -> None:
    obj = protobuf.decode(CONFIGMAP)
    assert obj["data"] == {"a": "b"}
    assert obj["metadata"] == {"name": "cm1", "namespace": "t1"}


def test_special_types() -> None:
    assert (
        protobuf._message(bytes.fromhex("08e807"), protobuf.TIME_TYPES[0]) == "1970-01-01T00:16:40Z"
    )
    assert protobuf._message(bytes.fromhex("0a0331304d"), protobuf.QUANTITY) == "10M"
    assert protobuf._message(bytes.fromhex("08001050"), protobuf.INT_OR_STRING) == 80
    assert protobuf._message(bytes.fromhex("08011a0468747470"), protobuf.INT_OR_STRING) == "http"


def test_delete_options_fall_back_to_meta() -> None:
    assert protobuf.message_name("v1", "DeleteOptions").endswith("meta.v1.DeleteOptions")
    assert protobuf.message_name("apps/v1", "Deployment") == "api.apps.v1.Deployment"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{}", "no k8s magic"),
        (b"k8s\x00\x0a\x0a\x0a\x02v1\x12\x04Nope", "no protobuf decoding for Nope"),
        (b"k8s\x00\x0a\x05\x0a\x02v1", "truncated"),
    ],
)
def test_errors(body: bytes, message: str) -> None:
    with pytest.raises(protobuf.DecodeError, match=message):
        protobuf.decode(body)
