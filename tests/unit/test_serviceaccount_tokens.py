"""Service account tokens (pure): claims, the authenticator and its cache, the admission."""

from __future__ import annotations

import random
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from minik8s.api.resources import PODS, SERVICEACCOUNTS, ResourceType
from minik8s.apiserver.serviceaccount import admission, keys, oidc, tokens
from minik8s.apiserver.serviceaccount.authenticator import ServiceAccountAuthenticator

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_700_000_000
SIGNING = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def account(uid: str = "sa-uid") -> dict[str, Any]:
    return {"metadata": {"name": "builder", "namespace": "ns", "uid": uid}}


def pod(uid: str = "pod-uid", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": uid, **meta}}


class World:
    """The watch cache, as the authenticator sees it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {
            ("serviceaccounts", "ns", "builder"): account(),
            ("pods", "ns", "web"): pod(),
        }
        self.now = float(NOW)

    def lookup(self, resource: ResourceType, namespace: str | None, name: str) -> Any:
        return self.objects.get((resource.plural, namespace, name))


def issue(seconds: int = 3600, bound: bool = True, issuer: str = ISSUER) -> str:
    claims = tokens.claims(
        issuer, [ISSUER], account(), NOW, seconds,
        tokens.Bound("Pod", "web", "pod-uid") if bound else None,
        tokens.Bound("Node", "node-1", "node-uid") if bound else None,
    )  # fmt: skip
    return tokens.TokenIssuer(SIGNING, issuer, [ISSUER]).sign(claims)


def authenticator(world: World) -> ServiceAccountAuthenticator:
    verification = [keys.VerificationKey(SIGNING.public_key(), keys.key_id(SIGNING.public_key()),
                                         "RS256")]  # fmt: skip
    return ServiceAccountAuthenticator(verification, [ISSUER], [ISSUER], world.lookup,
                                       clock=lambda: world.now)  # fmt: skip


def test_claims_are_kubernetes() -> None:
    claims = jwt.decode(issue(), options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:ns:builder"
    assert claims["kubernetes.io"] == {
        "namespace": "ns",
        "serviceaccount": {"name": "builder", "uid": "sa-uid"},
        "pod": {"name": "web", "uid": "pod-uid"},
        "node": {"name": "node-1", "uid": "node-uid"},
    }
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 3600)
    assert jwt.get_unverified_header(issue())["kid"] == keys.key_id(SIGNING.public_key())
    assert tokens.split_username("system:serviceaccount:ns:builder") == ("ns", "builder")
    assert tokens.split_username("system:serviceaccount:ns") is None


def test_a_valid_token_is_the_service_account_until_it_expires() -> None:
    world = World()
    auth = authenticator(world)
    token = issue()
    user = auth.authenticate(token)
    assert user is not None and user.name == "system:serviceaccount:ns:builder"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:ns",
                           "system:authenticated")  # fmt: skip
    extra = dict(user.extra)
    assert extra["authentication.kubernetes.io/pod-name"] == ("web",)
    assert extra["authentication.kubernetes.io/node-name"] == ("node-1",)
    world.now = NOW + 3600 + 59  # go-jose's one minute of leeway
    assert auth.authenticate(token) is not None
    world.now = NOW + 3600 + 61
    assert auth.authenticate(token) is None


def test_tokens_die_with_their_objects_even_when_cached() -> None:
    world = World()
    auth = authenticator(world)
    token = issue()
    assert auth.authenticate(token) is not None
    world.objects[("pods", "ns", "web")] = pod(uid="another-pod")  # deleted and recreated
    assert auth.authenticate(token) is None
    world.objects[("pods", "ns", "web")] = pod(deletionTimestamp="2023-11-14T22:13:00Z")
    assert auth.authenticate(token) is not None, "60 s of grace after the deletionTimestamp"
    world.now = NOW + 120
    assert auth.authenticate(token) is None
    world.objects[("pods", "ns", "web")] = pod()
    del world.objects[("serviceaccounts", "ns", "builder")]
    assert auth.authenticate(token) is None
    world.objects[("serviceaccounts", "ns", "builder")] = account()
    del world.objects[("pods", "ns", "web")]
    assert authenticator(world).authenticate(issue(bound=False)) is not None
    assert auth.authenticate(token) is None


def test_foreign_tokens_are_not_service_account_tokens() -> None:
    world = World()
    auth = authenticator(world)
    assert auth.authenticate("0123456789abcdef") is None
    assert auth.authenticate(issue(issuer="https://elsewhere")) is None
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(jwt.decode(issue(), options={"verify_signature": False}), other,
                        algorithm="ES256")  # fmt: skip
    assert auth.authenticate(forged) is None
    assert auth.authenticate_header(f"Bearer {issue()}") is not None


def test_jwks_describes_rsa_and_ec_keys() -> None:
    for key in (SIGNING.public_key(), ec.generate_private_key(ec.SECP256R1()).public_key()):
        entry = keys.jwk(keys.VerificationKey(key, keys.key_id(key), keys.algorithm(key)))
        parsed = jwt.PyJWK.from_dict(entry)
        assert parsed.key_id == keys.key_id(key)
    document = oidc.configuration(ISSUER, f"{ISSUER}/openid/v1/jwks", [])
    assert document["response_types_supported"] == ["id_token"]


# --- admission ---------------------------------------------------------------------------


def pod_spec(**spec: Any) -> dict[str, Any]:
    containers = {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {**containers, **spec}}


def test_admission_mounts_the_token_volume_everywhere() -> None:
    obj = pod_spec()
    obj["spec"]["containers"].append({"name": "b", "volumeMounts": [
        {"name": "own", "mountPath": admission.MOUNT_PATH}]})  # fmt: skip
    admission.mutate(obj, {"metadata": {}}, random.Random(1))
    (volume,) = obj["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
    assert volume == admission.token_volume(volume["name"])
    mount = {"name": volume["name"], "readOnly": True, "mountPath": admission.MOUNT_PATH}
    assert obj["spec"]["initContainers"][0]["volumeMounts"] == [mount]
    assert obj["spec"]["containers"][0]["volumeMounts"] == [mount]
    assert obj["spec"]["containers"][1]["volumeMounts"][0]["name"] == "own"


@pytest.mark.parametrize(
    ("pod_says", "account_says", "mounted"),
    [(None, None, True), (None, False, False), (True, False, True), (False, None, False)],
)
def test_automount_precedence(
    pod_says: bool | None, account_says: bool | None, mounted: bool
) -> None:
    obj = pod_spec() if pod_says is None else pod_spec(automountServiceAccountToken=pod_says)
    sa: dict[str, Any] = {"metadata": {}, "imagePullSecrets": [{"name": "reg"}]}
    if account_says is not None:
        sa["automountServiceAccountToken"] = account_says
    admission.mutate(obj, sa)
    assert ("volumes" in obj["spec"]) is mounted
    assert obj["spec"]["imagePullSecrets"] == [{"name": "reg"}]


async def test_admission_defaults_the_account_and_refuses_a_missing_one() -> None:
    seen: list[tuple[str, str]] = []

    async def get(namespace: str, name: str) -> dict[str, Any] | None:
        seen.append((namespace, name))
        return {"metadata": {}} if name == "default" and len(seen) > 2 else None

    admit = admission.ServiceAccountAdmission(get, retry_interval=0)
    obj = pod_spec()
    await admit(PODS, obj)
    assert obj["spec"]["serviceAccountName"] == "default" and len(seen) == 3
    from minik8s.api import errors

    with pytest.raises(errors.Forbidden, match='serviceaccount "ghost" not found'):
        await admit(PODS, pod_spec(serviceAccountName="ghost"))
    mirror = pod_spec()
    mirror["metadata"]["annotations"] = {admission.MIRROR_ANNOTATION: "x"}
    await admit(PODS, mirror)
    assert "serviceAccountName" not in mirror["spec"]
    await admit(SERVICEACCOUNTS, {"metadata": {}})
