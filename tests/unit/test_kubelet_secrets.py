"""The kubelet's credential pieces: the atomic writer, volume payloads, env from Secrets,
pull secrets and the token manager's renewal (pure, or on a temporary directory)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import ClientConfig
from minik8s.kubelet import atomicwriter, envfrom, projected, pullsecrets, specs, tmpfs
from minik8s.kubelet.atomicwriter import FileProjection
from minik8s.kubelet.configerror import ConfigError
from minik8s.kubelet.tokenmanager import TokenManager
from tests.support.mock_transport import MockTransport


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, kind: str = "Opaque", **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "type": kind, "data": {k: b64(v) for k, v in data.items()}}


# --- the atomic writer -------------------------------------------------------------------


def test_atomic_writer_swaps_data_and_removes_stale_links(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert atomicwriter.write(
        target, {"a": FileProjection(b"1", 0o400), "d/b": FileProjection(b"2")}
    )
    first = os.readlink(target / "..data")
    assert (target / "a").read_bytes() == b"1" and (target / "d" / "b").read_bytes() == b"2"
    assert os.readlink(target / "a") == "..data/a"
    assert (target / first / "a").stat().st_mode & 0o777 == 0o400
    assert not atomicwriter.write(
        target, {"a": FileProjection(b"1", 0o400), "d/b": FileProjection(b"2")}
    )
    assert atomicwriter.write(target, {"a": FileProjection(b"new", 0o400)})
    assert os.readlink(target / "..data") != first and not (target / first).exists()
    assert (target / "a").read_bytes() == b"new"
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..")) == ["a"]
    with pytest.raises(atomicwriter.PayloadError):
        atomicwriter.write(target, {"../escape": FileProjection(b"")})


def test_mountinfo_paths_are_unescaped() -> None:
    assert tmpfs._unescape("/a\\040b") == "/a b"


# --- payloads ----------------------------------------------------------------------------


def test_secret_volume_items_modes_and_optional() -> None:
    secrets = {"app": secret("app", user="u", password="p")}
    items = [{"key": "password", "path": "db/pw", "mode": 0o400}, {"key": "user", "path": "u"}]
    source = {"secretName": "app", "defaultMode": 0o440, "items": items}
    payload = projected.secret_volume(source, secrets)
    assert payload == {"db/pw": FileProjection(b"p", 0o400), "u": FileProjection(b"u", 0o440)}
    assert projected.secret_volume({"secretName": "app"}, secrets)["user"].mode == 0o644
    with pytest.raises(ConfigError, match='secret "gone" not found'):
        projected.secret_volume({"secretName": "gone"}, secrets)
    assert projected.secret_volume({"secretName": "gone", "optional": True}, secrets) == {}
    with pytest.raises(ConfigError, match="references non-existent secret key: nope"):
        projected.secret_volume(
            {"secretName": "app", "items": [{"key": "nope", "path": "x"}]}, secrets
        )


def test_projected_volume_with_token_ca_and_namespace() -> None:
    container = {"name": "c", "resources": {"limits": {"memory": "1Ki"}}}
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": "1"}},
           "spec": {"containers": [container]}}  # fmt: skip
    source = {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [
            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "mem",
             "resourceFieldRef": {"containerName": "c", "resource": "limits.memory"}},
        ]}},
    ]}  # fmt: skip
    configmaps = {"kube-root-ca.crt": {"data": {"ca.crt": "PEM"}}}
    payload = projected.projected_volume(source, pod, {}, configmaps, {("", 3607): "jwt"})
    assert {k: v.data for k, v in payload.items()} == {
        "token": b"jwt", "ca.crt": b"PEM", "namespace": b"ns", "labels": b'a="1"\nb="2"',
        "mem": b"1024"}  # fmt: skip
    with pytest.raises(ConfigError, match=r'configmap "kube-root-ca\.crt"'):
        projected.projected_volume(source, pod, {}, {}, {("", 3607): "jwt"})
    pod["spec"]["volumes"] = [{"name": "v", "projected": source}]
    assert projected.token_projections(pod) == [source["sources"][0]["serviceAccountToken"]]
    assert projected.referenced(pod, "configMap") == {"kube-root-ca.crt"}


# --- env ---------------------------------------------------------------------------------


def test_env_from_secrets_in_kubernetes_order() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    container = {
        "envFrom": [{"prefix": "A_", "secretRef": {"name": "app"}},
                    {"configMapRef": {"name": "cm"}},
                    {"secretRef": {"name": "absent", "optional": True}}],
        "env": [{"name": "A_user", "value": "overridden"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "app", "key": "pw"}}},
                {"name": "NO", "valueFrom": {"secretKeyRef": {"name": "app", "key": "x",
                                                              "optional": True}}}],
    }  # fmt: skip
    secrets = {"app": secret("app", user="u", pw="p", **{"1bad": "x"})}
    configmaps = {"cm": {"data": {"mode": "fast"}}}
    env = specs.resolve_env(pod, container, "", "", configmaps, secrets)
    assert env == {"A_user": "overridden", "A_pw": "p", "A_1bad": "x", "mode": "fast", "PW": "p"}
    skipped = envfrom.from_sources({"envFrom": [{"secretRef": {"name": "app"}}]}, "ns", {}, secrets)
    assert skipped.skipped == [
        "Keys [1bad] from the EnvFrom secret ns/app were skipped since they are considered "
        "invalid environment variable names."
    ]
    with pytest.raises(ConfigError, match="couldn't find key x in Secret ns/app"):
        envfrom.secret_key({"name": "app", "key": "x"}, "ns", secrets)
    with pytest.raises(ConfigError, match='secret "gone" not found'):
        specs.resolve_env(pod, {"envFrom": [{"secretRef": {"name": "gone"}}]}, "", "", {}, {})


# --- pull secrets ------------------------------------------------------------------------


def docker_secret(auths: dict[str, Any], kind: str = "kubernetes.io/dockerconfigjson") -> dict:
    if kind == "kubernetes.io/dockercfg":
        return secret("r", kind, **{".dockercfg": json.dumps(auths)})
    return secret("r", kind, **{".dockerconfigjson": json.dumps({"auths": auths})})


def test_pull_secrets_match_registry_host_port_and_path() -> None:
    secrets = [docker_secret({
        "127.0.0.1:5000": {"auth": b64("u:p")},
        "https://127.0.0.1:5000/team/v1/": {"username": "team", "password": "t"},
        "*.example.com": {"username": "w", "password": "w"},
        "https://index.docker.io/v1/": {"username": "hub", "password": "h"},
    })]  # fmt: skip
    users = lambda image: [a["username"] for a in pullsecrets.credentials_for(image, secrets)]  # noqa: E731
    assert users("127.0.0.1:5000/team/app:1") == ["team", "u"]
    assert users("127.0.0.1:5000/other/app") == ["u"]
    assert users("127.0.0.1:5001/team/app") == []
    assert users("registry.example.com/x") == ["w"]
    assert users("nginx") == ["hub"]
    legacy = [docker_secret({"127.0.0.1:5000": {"auth": b64("old:p")}}, "kubernetes.io/dockercfg")]
    assert pullsecrets.credentials_for("127.0.0.1:5000/x", legacy)[0]["username"] == "old"


# --- token manager -----------------------------------------------------------------------


async def test_tokens_are_renewed_at_80_percent_of_their_life() -> None:
    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        seconds = body["spec"]["expirationSeconds"]
        status = {"token": f"t{len(requests)}",
                  "expirationTimestamp": _stamp(now[0] + seconds)}  # fmt: skip
        return httpx.Response(201, json={**body, "status": status})

    now = [1_700_000_000.0]
    client = ApiClient(
        ClientConfig(server="http://apiserver.test"), transport=MockTransport(handler)
    )
    manager = TokenManager(client, clock=lambda: now[0])
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {}}
    assert await manager.token(pod, "", 3600) == "t1"
    assert requests[0]["spec"]["boundObjectRef"] == {"kind": "Pod", "apiVersion": "v1",
                                                     "name": "p", "uid": "u1"}  # fmt: skip
    assert manager.next_refresh("u1") == now[0] + 2880
    now[0] += 2879
    assert await manager.token(pod, "", 3600) == "t1"
    now[0] += 2
    assert await manager.token(pod, "", 3600) == "t2"
    assert await manager.token(pod, "vault", 3600) == "t3"
    assert requests[-1]["spec"]["audiences"] == ["vault"]
    manager.forget("u1")
    assert manager.next_refresh("u1") is None
    await client.aclose()


def _stamp(seconds: float) -> str:
    from minik8s.api import times

    return times.format_timestamp(seconds)
