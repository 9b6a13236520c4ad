"""Secrets and ServiceAccounts through a real apiserver (encryption at rest, ServiceAccount keys)
and a real controller-manager (the serviceaccount and root-ca-cert-publisher controllers).

Secrets: CRUD, per-type validation, stringData, immutable, encryption seen with `etcdctl get`.
Tokens: TokenRequest, the JWT's claims, expiry, a token refused once its pod or ServiceAccount
is gone, the OIDC discovery documents, the ServiceAccount admission; kubectl as a client.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from minik8s import pki
from minik8s.cli.minikctl.app import app as minikctl
from tests.support.api import Api
from tests.support.controllers import ControllerManager
from tests.support.credentials import ISSUER, apiserver_args, etcdctl_get
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for

B64 = base64.b64encode
runner = CliRunner()


def b64(text: str) -> str:
    return B64(text.encode()).decode()


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    path = temp_dir("minik8s-secrets-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def etcd(work: Path) -> Iterator[Etcd]:
    """An etcd of this module's own: the other apiservers of the session cannot read the
    Secrets this one encrypts (as in Kubernetes, every apiserver needs the same keys)."""
    server = Etcd(work / "etcd")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(etcd: Etcd, work: Path) -> Iterator[Apiserver]:
    apiserver = Apiserver(
        etcd.url,
        work / "apiserver",
        token=secrets.token_hex(16),
        extra_args=apiserver_args(work),
    )
    apiserver.start()
    yield apiserver
    apiserver.stop()


@pytest.fixture(scope="module")
def api(server: Apiserver) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def kubeconfig(server: Apiserver, work: Path) -> Path:
    return server.write_kubeconfig(work / "kubeconfig")


@pytest.fixture(scope="module")
def controllers(kubeconfig: Path, work: Path) -> Iterator[ControllerManager]:
    manager = ControllerManager(
        kubeconfig,
        work / "controller-manager.log",
        ["--leader-elect=false", "--controllers=serviceaccount,root-ca-cert-publisher"],
    )
    manager.start()
    yield manager
    manager.stop()


@pytest.fixture()
def ns(api: Api, controllers: ControllerManager) -> str:
    """A new namespace whose `default` ServiceAccount exists."""
    name = api.namespace()
    wait_for(
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code == 200,
        f"the default ServiceAccount of {name}",
    )
    return name


def secret(name: str, kind: str = "Opaque", **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": kind,
            **fields}  # fmt: skip


def pod_body(name: str, containers: int = 1, **spec: Any) -> dict[str, Any]:
    images = [{"name": f"c{i}", "image": "x"} for i in range(containers)]
    return {"metadata": {"name": name}, "spec": {"containers": images, **spec}}


def causes(response: Any) -> list[tuple[str, str]]:
    return [(c["field"], c["reason"]) for c in response.json()["details"]["causes"]]


# --- Secrets -------------------------------------------------------------------------------------


def test_secret_crud_with_string_data_and_a_table(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/secrets"
    r = api.post(path, secret("db", data={"user": b64("admin"), "pw": b64("old")},
                              stringData={"pw": "s3cret", "host": "db.local"}))  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    assert "stringData" not in created
    assert created["data"] == {"user": b64("admin"), "pw": b64("s3cret"), "host": b64("db.local")}
    assert api.get(f"{path}/db").json()["data"] == created["data"]

    r = api.patch(f"{path}/db", {"stringData": {"pw": "new"}}, "application/merge-patch+json")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["pw"] == b64("new") and "stringData" not in r.json()

    table = api.get(path, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    columns = [c["name"] for c in table.json()["columnDefinitions"]]
    assert columns == ["Name", "Type", "Data", "Age"]
    assert table.json()["rows"][0]["cells"][:3] == ["db", "Opaque", 3]
    selected = api.get(path, params={"fieldSelector": "type=Opaque"}).json()["items"]
    assert [s["metadata"]["name"] for s in selected] == ["db"]

    assert api.delete(f"{path}/db").status_code == 200
    assert api.get(f"{path}/db").status_code == 404


def test_secret_validation_per_type(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/secrets"
    r = api.post(path, secret("b", data={"k": "not base64!"}))
    assert r.status_code == 400, r.text
    assert (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data'
        in (r.json()["message"])
    )
    expectations: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        (secret("d", "kubernetes.io/dockerconfigjson", data={}),
         [("data[.dockerconfigjson]", "FieldValueRequired")]),
        (secret("d", "kubernetes.io/dockercfg", stringData={".dockercfg": "[1]"}),
         [("data[.dockercfg]", "FieldValueInvalid")]),
        (secret("t", "kubernetes.io/tls", data={}),
         [("data[tls.crt]", "FieldValueRequired"), ("data[tls.key]", "FieldValueRequired")]),
        (secret("a", "kubernetes.io/basic-auth"),
         [("data[%s][username]", "FieldValueRequired"),
          ("data[%s][password]", "FieldValueRequired")]),
        (secret("s", "kubernetes.io/ssh-auth"),
         [("data[%s][ssh-privatekey]", "FieldValueRequired")]),
        (secret("sa", "kubernetes.io/service-account-token"),
         [("metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired")]),
        (secret("k", data={"bad/key": b64("x")}), [("data[bad/key]", "FieldValueInvalid")]),
    ]  # fmt: skip
    for body, expected in expectations:
        r = api.post(path, body)
        assert r.status_code == 422, (body, r.text)
        assert causes(r) == expected, (body, r.text)
    accepted = [
        secret("ok-tls", "kubernetes.io/tls", stringData={"tls.crt": "c", "tls.key": "k"}),
        secret("ok-basic", "kubernetes.io/basic-auth", stringData={"username": "u"}),
        secret("ok-docker", "kubernetes.io/dockerconfigjson",
               stringData={".dockerconfigjson": '{"auths": {}}'}),
        secret("bootstrap-token-abcdef", "bootstrap.kubernetes.io/token",
               stringData={"token-id": "abcdef", "token-secret": "0123456789abcdef"}),
    ]  # fmt: skip
    for body in accepted:
        assert api.post(path, body).status_code == 201, body


def test_immutable_secrets_keep_their_data_and_type(api: Api, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/secrets"
    assert api.post(path, secret("frozen", data={"a": b64("1")}, immutable=True)).status_code == 201
    current = api.get(f"{path}/frozen").json()
    changed = {**current, "data": {"a": b64("2")}}
    r = api.put(f"{path}/frozen", changed)
    assert r.status_code == 422 and causes(r) == [("data", "FieldValueForbidden")], r.text
    r = api.patch(f"{path}/frozen", {"immutable": False}, "application/merge-patch+json")
    assert r.status_code == 422 and causes(r) == [("immutable", "FieldValueForbidden")], r.text
    r = api.patch(f"{path}/frozen", {"type": "kubernetes.io/tls"}, "application/merge-patch+json")
    assert r.status_code == 422 and ("type", "FieldValueInvalid") in causes(r), r.text
    labelled = api.patch(f"{path}/frozen", {"metadata": {"labels": {"a": "b"}}},
                         "application/merge-patch+json")  # fmt: skip
    assert labelled.status_code == 200, "metadata of an immutable Secret still changes"


def test_secrets_are_encrypted_in_etcd_and_served_decrypted(api: Api, ns: str, etcd: Etcd) -> None:
    path = f"/api/v1/namespaces/{ns}/secrets"
    plaintext = f"plaintext-{secrets.token_hex(8)}"
    with api.watch(path) as events:
        assert api.post(path, secret("enc", stringData={"password": plaintext})).status_code == 201
        event = next(events)
    assert event["type"] == "ADDED" and event["object"]["data"]["password"] == b64(plaintext)
    raw = etcdctl_get(etcd.url, f"/registry/secrets/{ns}/enc")
    assert raw.startswith(b"k8s:enc:aescbc:v1:key1:"), raw[:40]
    assert plaintext.encode() not in raw and b64(plaintext).encode() not in raw
    assert api.get(f"{path}/enc").json()["data"]["password"] == b64(plaintext)
    listed = api.get(path).json()["items"]
    assert [s["data"] for s in listed if s["metadata"]["name"] == "enc"] == [
        {"password": b64(plaintext)}
    ]
    # Resources the configuration does not name stay plain JSON.
    cm = {"metadata": {"name": "plain"}, "data": {"k": plaintext}}
    assert api.post(f"/api/v1/namespaces/{ns}/configmaps", cm).status_code == 201
    assert plaintext.encode() in etcdctl_get(etcd.url, f"/registry/configmaps/{ns}/plain")


# --- ServiceAccounts and tokens --------------------------------------------------------------


def test_a_new_namespace_gets_a_default_service_account_and_the_root_ca(
    api: Api, ns: str, server: Apiserver
) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt"
    configmap = wait_for(lambda: api.get(path).json() if api.get(path).status_code == 200 else None,
                         f"kube-root-ca.crt in {ns}")  # fmt: skip
    assert server.ca_file is not None
    assert configmap["data"] == {"ca.crt": server.ca_file.read_text()}
    # Deleted, both come back.
    assert api.delete(path).status_code == 200
    assert api.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status_code == 200
    wait_for(lambda: api.get(path).status_code == 200, f"kube-root-ca.crt back in {ns}")
    wait_for(lambda: api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status_code
             == 200, f"the default ServiceAccount back in {ns}")  # fmt: skip


def request_token(api: Api, ns: str, account: str, **spec: Any) -> dict[str, Any]:
    r = api.post(
        f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def as_token(server: Apiserver, token: str) -> Api:
    client = Api(server)
    client.http.headers["Authorization"] = f"Bearer {token}"
    return client


def whoami(server: Apiserver, token: str) -> tuple[int, dict[str, Any]]:
    with_token = as_token(server, token)
    try:
        r = with_token.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        if r.status_code != 201:
            return r.status_code, {}
        return r.status_code, r.json()["status"]["userInfo"]
    finally:
        with_token.close()


def signing_key(work: Path) -> Any:
    return serialization.load_pem_private_key((work / "pki" / "sa.key").read_bytes(), None)


def test_token_request_claims_and_authentication(
    api: Api, ns: str, server: Apiserver, work: Path
) -> None:
    account = api.post(f"/api/v1/namespaces/{ns}/serviceaccounts",
                       {"metadata": {"name": "builder"}}).json()  # fmt: skip
    before = int(time.time())
    review = request_token(api, ns, "builder")
    token = review["status"]["token"]
    public = serialization.load_pem_public_key((work / "pki" / "sa.pub").read_bytes())
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=ISSUER)  # type: ignore[arg-type]
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["sub"] == f"system:serviceaccount:{ns}:builder"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"] >= before
    assert len(claims["jti"]) == 36
    assert claims["kubernetes.io"] == {
        "namespace": ns,
        "serviceaccount": {"name": "builder", "uid": account["metadata"]["uid"]},
    }
    assert review["status"]["expirationTimestamp"].endswith("Z")

    code, user = whoami(server, token)
    assert code == 201, user
    assert user["username"] == f"system:serviceaccount:{ns}:builder"
    assert user["uid"] == account["metadata"]["uid"]
    assert set(user["groups"]) == {"system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                   "system:authenticated"}  # fmt: skip
    assert user["extra"]["authentication.kubernetes.io/credential-id"] == [f"JTI={claims['jti']}"]
    with_token = as_token(server, token)
    try:
        assert with_token.get(f"/api/v1/namespaces/{ns}/pods").status_code == 200
        assert with_token.get("/api/v1").status_code == 200  # FastAPI's routes too
    finally:
        with_token.close()

    # Audiences and durations, as asked; invalid durations refused.
    custom = request_token(api, ns, "builder", audiences=["vault"], expirationSeconds=1200)
    custom_claims = jwt.decode(custom["status"]["token"], options={"verify_signature": False})
    assert custom_claims["aud"] == ["vault"] and custom_claims["exp"] - custom_claims["iat"] == 1200
    assert whoami(server, custom["status"]["token"])[0] == 401, "a token for another audience"
    r = api.post(f"/api/v1/namespaces/{ns}/serviceaccounts/builder/token",
                 {"spec": {"expirationSeconds": 60}})  # fmt: skip
    assert r.status_code == 422 and causes(r) == [("spec.expirationSeconds", "FieldValueInvalid")]
    assert api.post(f"/api/v1/namespaces/{ns}/serviceaccounts/nobody/token", {}).status_code == 404

    # Expired, foreign-issued and forged tokens are refused.
    now = int(time.time())
    expired = dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    assert whoami(server, jwt.encode(expired, signing_key(work), algorithm="RS256"))[0] == 401
    foreign = dict(claims, iss="https://elsewhere")
    assert whoami(server, jwt.encode(foreign, signing_key(work), algorithm="RS256"))[0] == 401
    forged = jwt.encode(claims, pki_key(), algorithm="RS256")
    assert whoami(server, forged)[0] == 401

    # Deleting the ServiceAccount invalidates its tokens at once.
    assert api.delete(f"/api/v1/namespaces/{ns}/serviceaccounts/builder").status_code == 200
    wait_for(lambda: whoami(server, token)[0] == 401, "the token refused after its SA is gone")


def pki_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_pod_bound_token_dies_with_its_pod(api: Api, ns: str, server: Apiserver) -> None:
    created = api.post(f"/api/v1/namespaces/{ns}/pods", pod_body("p")).json()
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": created["metadata"]["uid"]}
    token = request_token(api, ns, "default", boundObjectRef=ref)["status"]["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["kubernetes.io"]["pod"] == {"name": "p", "uid": created["metadata"]["uid"]}
    code, user = whoami(server, token)
    assert code == 201 and user["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]

    wrong = {**ref, "uid": "00000000-0000-0000-0000-000000000000"}
    r = api.post(f"/api/v1/namespaces/{ns}/serviceaccounts/default/token",
                 {"spec": {"boundObjectRef": wrong}})  # fmt: skip
    assert r.status_code == 409 and "does not match the UID in record" in r.json()["message"]

    assert api.delete(f"/api/v1/namespaces/{ns}/pods/p").status_code == 200
    wait_for(lambda: whoami(server, token)[0] == 401, "the token refused after its pod is gone")


def test_the_service_account_admission(api: Api, ns: str) -> None:
    pods = f"/api/v1/namespaces/{ns}/pods"
    spec = api.post(pods, pod_body("auto", containers=2)).json()["spec"]
    assert spec["serviceAccountName"] == "default"
    volume = spec["volumes"][0]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for container in spec["containers"]:
        assert container["volumeMounts"] == [{"name": volume["name"], "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]  # fmt: skip

    opted_out = pod_body("manual", automountServiceAccountToken=False)
    assert "volumes" not in api.post(pods, opted_out).json()["spec"]
    account = {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False,
               "imagePullSecrets": [{"name": "regcred"}]}  # fmt: skip
    assert api.post(f"/api/v1/namespaces/{ns}/serviceaccounts", account).status_code == 201
    quiet = pod_body("quiet", serviceAccountName="quiet")
    spec = api.post(pods, quiet).json()["spec"]
    assert "volumes" not in spec and spec["imagePullSecrets"] == [{"name": "regcred"}]

    missing = pod_body("lost", serviceAccountName="ghost")
    r = api.post(pods, missing)
    assert r.status_code == 403, r.text
    assert r.json()["message"] == (
        f'pods "lost" is forbidden: error looking up service account {ns}/ghost: '
        'serviceaccount "ghost" not found'
    )


def test_oidc_discovery_documents_verify_tokens(api: Api, ns: str) -> None:
    configuration = api.get("/.well-known/openid-configuration").json()
    assert configuration["issuer"] == ISSUER
    assert configuration["jwks_uri"].endswith("/openid/v1/jwks")
    assert configuration["id_token_signing_alg_values_supported"] == ["RS256"]
    r = api.get("/openid/v1/jwks")
    assert r.headers["content-type"] == "application/jwk-set+json"
    (key,) = r.json()["keys"]
    token = request_token(api, ns, "default")["status"]["token"]
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    jwk = jwt.PyJWK.from_dict(key)
    assert jwt.decode(token, jwk, audience=ISSUER)["iss"] == ISSUER


# --- kubectl ---------------------------------------------------------------------------------


def kubectl(kubeconfig: Path, ns: str, *args: str) -> str:
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", ns, *args],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_creates_secrets_and_tokens(
    api: Api, ns: str, kubeconfig: Path, work: Path
) -> None:
    certs = pki.ensure_serving_certificate(work / "tls")
    kubectl(kubeconfig, ns, "create", "secret", "generic", "gen", "--from-literal=user=admin",
            "--from-literal=password=hunter2")  # fmt: skip
    kubectl(kubeconfig, ns, "create", "secret", "tls", "web-tls", f"--cert={certs.cert}",
            f"--key={certs.key}")  # fmt: skip
    kubectl(kubeconfig, ns, "create", "secret", "docker-registry", "regcred",
            "--docker-server=127.0.0.1:5000", "--docker-username=u",
            "--docker-password=p")  # fmt: skip
    listed = kubectl(kubeconfig, ns, "get", "secrets")
    assert listed.split("\n")[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    rows = {line.split()[0]: line.split()[1:3] for line in listed.strip().split("\n")[1:]}
    assert rows["gen"] == ["Opaque", "2"]
    assert rows["web-tls"] == ["kubernetes.io/tls", "2"]
    assert rows["regcred"] == ["kubernetes.io/dockerconfigjson", "1"]
    described = kubectl(kubeconfig, ns, "describe", "secret", "gen")
    assert "password:  7 bytes" in described and "hunter2" not in described
    mk = ["--kubeconfig", str(kubeconfig), "-n", ns]
    ours = runner.invoke(minikctl, [*mk, "get", "secrets"])
    assert ours.exit_code == 0, ours.output
    assert [line.split()[:3] for line in ours.stdout.splitlines()] == [
        line.split()[:3] for line in listed.splitlines()
    ]
    ours = runner.invoke(minikctl, [*mk, "describe", "secret", "gen"])
    assert ours.exit_code == 0 and "hunter2" not in ours.stdout, ours.output
    # kubectl prints the keys in Go's map order (random): compare the lines as a set.
    assert sorted(line.split() for line in ours.stdout.splitlines()) == sorted(
        line.split() for line in described.splitlines()
    )

    kubectl(kubeconfig, ns, "create", "serviceaccount", "robot")
    assert kubectl(kubeconfig, ns, "get", "sa", "robot").split()[:3] == ["NAME", "SECRETS", "AGE"]
    theirs = kubectl(kubeconfig, ns, "describe", "sa", "robot")
    ours = runner.invoke(minikctl, [*mk, "describe", "sa", "robot"])
    assert [line.split() for line in ours.stdout.splitlines()] == [
        line.split() for line in theirs.splitlines()
    ], (ours.stdout, theirs)
    token = kubectl(kubeconfig, ns, "create", "token", "robot", "--duration=20m",
                    "--audience=https://example.com").strip()  # fmt: skip
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == ["https://example.com"] and claims["exp"] - claims["iat"] == 1200
    pod = pod_body("bound", serviceAccountName="robot")
    assert api.post(f"/api/v1/namespaces/{ns}/pods", pod).status_code == 201
    bound = kubectl(kubeconfig, ns, "create", "token", "robot", "--bound-object-kind=Pod",
                    "--bound-object-name=bound").strip()  # fmt: skip
    assert (
        jwt.decode(bound, options={"verify_signature": False})["kubernetes.io"]["pod"]["name"]
        == "bound"
    )
