"""Secrets in the API layer (pure): the v1 conversion (base64, stringData), per-type
validation, the secret/projected volume rules and defaults, and encryption at rest."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from minik8s.api import defaults, errors, secret, validation
from minik8s.api import resources as rt
from minik8s.apiserver import encryptionconfig
from minik8s.store import encryption
from minik8s.store import errors as store_errors


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_string_data_is_merged_into_data_and_wins() -> None:
    obj: dict[str, Any] = {
        "data": {"a": b64("1"), "b": b64("2")},
        "stringData": {"b": "x", "c": "y"},
    }
    secret.convert_from_v1(obj)
    assert obj == {"data": {"a": b64("1"), "b": b64("x"), "c": b64("y")}}


def test_data_is_canonical_base64_and_bad_base64_is_a_400() -> None:
    obj: dict[str, Any] = {"data": {"k": "aGVs\nbG8="}}
    secret.convert_from_v1(obj)
    assert obj["data"]["k"] == b64("hello")
    with pytest.raises(errors.BadRequest) as caught:
        secret.convert_from_v1({"data": {"k": "abc$"}})
    assert caught.value.message == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )


def fields(obj: dict[str, Any]) -> list[str]:
    return [c.field for c in validation.validate_create(rt.SECRETS, obj)]


def make(kind: str, **data: str) -> dict[str, Any]:
    obj = {"metadata": {"name": "s", "namespace": "ns"}, "type": kind,
           "data": {k: b64(v) for k, v in data.items()}}  # fmt: skip
    return obj


def test_validation_per_type() -> None:
    assert fields(make("Opaque", a="1")) == []
    assert fields(make("kubernetes.io/tls", **{"tls.crt": "c"})) == ["data[tls.key]"]
    assert fields(make("kubernetes.io/dockerconfigjson")) == ["data[.dockerconfigjson]"]
    assert fields(make("kubernetes.io/dockerconfigjson", **{".dockerconfigjson": "{}"})) == []
    assert fields(make("kubernetes.io/dockercfg", **{".dockercfg": "nope"})) == ["data[.dockercfg]"]
    assert fields(make("kubernetes.io/basic-auth", password="")) == []
    assert fields(make("kubernetes.io/ssh-auth", **{"ssh-privatekey": ""})) == [
        "data[%s][ssh-privatekey]"
    ]
    assert fields(make("bootstrap.kubernetes.io/token")) == []
    too_big = make("Opaque")
    too_big["data"]["big"] = base64.b64encode(b"x" * (secret.MAX_SECRET_SIZE + 1)).decode()
    assert fields(too_big) == ["data"]


def test_immutable_update_rules() -> None:
    old = {**make("Opaque", a="1"), "immutable": True}
    same_data = {**make("Opaque", a="1"), "immutable": True, "metadata": old["metadata"]}
    assert validation.validate_update(rt.SECRETS, same_data, old) == []
    new = {**make("Opaque", a="2"), "immutable": True}
    causes = validation.validate_update(rt.SECRETS, new, old)
    assert [(c.field, c.reason) for c in causes] == [("data", "FieldValueForbidden")]


def pod_with(volume: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [volume]}}  # fmt: skip


def test_volume_rules_and_defaults() -> None:
    pod = pod_with({"name": "t", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 60}},
        {"secret": {"name": "s", "items": [{"key": "k", "path": "token"}]}}]}})  # fmt: skip
    assert [c.field for c in validation.validate_create(rt.PODS, pod)] == [
        "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
        "spec.volumes[0].projected.sources[1].secret.items[0].path",
    ]
    pod = pod_with({"name": "s", "secret": {"defaultMode": 0o1777}})
    assert [c.field for c in validation.validate_create(rt.PODS, pod)] == [
        "spec.volumes[0].secret.secretName", "spec.volumes[0].secret.defaultMode"]  # fmt: skip
    pod = pod_with(
        {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
    )
    defaults.apply_defaults(rt.PODS, pod)
    projected = pod["spec"]["volumes"][0]["projected"]
    assert projected["defaultMode"] == 0o644
    assert projected["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600
    obj: dict[str, Any] = {"metadata": {"name": "s"}}
    defaults.apply_defaults(rt.SECRETS, obj)
    assert obj["type"] == "Opaque"


# --- encryption at rest --------------------------------------------------------------------------

KEY = b"k" * 32
SECRET_KEY = b"/registry/secrets/ns/s"


def test_providers_round_trip_with_kubernetes_prefixes() -> None:
    providers = [
        (encryption.AesCbc("one", KEY), b"k8s:enc:aescbc:v1:one:"),
        (encryption.SecretBox("two", KEY), b"k8s:enc:secretbox:v1:two:"),
    ]
    for provider, prefix in providers:
        stored = provider.encrypt(b'{"data": 1}')
        assert stored.startswith(prefix) and b"data" not in stored
        assert provider.decrypt(stored) == b'{"data": 1}'
    with pytest.raises(store_errors.TransformFailed):
        encryption.AesCbc("one", b"x" * 32).decrypt(encryption.AesCbc("one", KEY).encrypt(b"{}"))


def test_reads_use_any_provider_and_writes_the_first() -> None:
    old = encryption.ProviderChain([encryption.AesCbc("old", KEY), encryption.Identity()])
    new = encryption.ProviderChain(
        [encryption.SecretBox("new", KEY), encryption.AesCbc("old", KEY), encryption.Identity()]
    )
    written_before = old.to_storage(b"{}")
    assert new.from_storage(written_before) == b"{}"
    assert new.from_storage(b'{"plain": true}') == b'{"plain": true}'
    assert new.to_storage(b"{}").startswith(b"k8s:enc:secretbox:v1:new:")
    strict = encryption.ProviderChain([encryption.AesCbc("old", KEY)])
    with pytest.raises(store_errors.TransformFailed, match="no matching prefix"):
        strict.from_storage(b"{}")


def config(resources: list[str], providers: list[Any]) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": resources, "providers": providers}]}  # fmt: skip


AESCBC = {"aescbc": {"keys": [{"name": "k", "secret": base64.b64encode(KEY).decode()}]}}


def test_configuration_names_resources_like_kubernetes() -> None:
    transformer = encryptionconfig.parse(config(["secrets", "deployments.apps"], [AESCBC]))
    assert transformer.resources == ["deployments", "secrets"]
    assert encryptionconfig.parse(config(["*."], [AESCBC])).chain_for(b"/registry/configmaps/a/b")
    apps = encryptionconfig.parse(config(["*.apps"], [AESCBC])).resources
    assert {"deployments", "replicasets"} <= set(apps) and "secrets" not in apps
    plain = encryptionconfig.parse(config(["secrets"], [AESCBC]))
    assert plain.to_storage(b"/registry/configmaps/ns/c", b"{}") == b"{}"
    assert plain.from_storage(SECRET_KEY, plain.to_storage(SECRET_KEY, b"{}")) == b"{}"


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ([{"kms": {"name": "x"}}], "the kms provider is not supported by minik8s"),
        ([{"aescbc": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}],
         "must be 16, 24 or 32 bytes"),
        ([{"secretbox": {"keys": [{"name": "k", "secret": "%%%"}]}}], "not valid base64"),
        ([], "at least one provider"),
    ],
)  # fmt: skip
def test_bad_configurations_are_refused(providers: list[Any], message: str) -> None:
    with pytest.raises(encryptionconfig.ConfigError, match=message):
        encryptionconfig.parse(config(["secrets"], providers))


def test_the_launchers_configuration_parses() -> None:
    from minik8s.cli.launcher import encryption as launcher_encryption

    document = yaml.safe_load(launcher_encryption.config(KEY))
    assert encryptionconfig.parse(document).resources == ["secrets"]
