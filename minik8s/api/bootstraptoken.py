"""Bootstrap tokens (Kubernetes' `k8s.io/cluster-bootstrap`): the format of a token, the Secret
that holds it, and the detached JWS that signs the `cluster-info` ConfigMap with it (pure).

A token is `<id>.<secret>` (6 and 16 of [a-z0-9]); it lives in the Secret
`kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`. As a bearer token
it is the user `system:bootstrap:<id>` in `system:bootstrappers` (and the `auth-extra-groups`),
until its `expiration`; with `usage-bootstrap-signing` the bootstrap signer puts
`jws-kubeconfig-<id>` into `kube-public/cluster-info`: an HS256 JWS of the ConfigMap's
`kubeconfig` keyed by the token's secret, without its payload, so a joining machine that
knows the token can tell the ConfigMap comes from the cluster that holds it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
import yaml

from minik8s.api import meta, times
from minik8s.api.meta import Object

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
NAMESPACE = "kube-system"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
DEFAULT_NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"
"""kubeadm's group for node-joining tokens (its RBAC bindings name it)."""
ID_KEY, SECRET_KEY = "token-id", "token-secret"
EXPIRATION_KEY, DESCRIPTION_KEY = "expiration", "description"
EXTRA_GROUPS_KEY = "auth-extra-groups"
USAGE_AUTHENTICATION = "usage-bootstrap-authentication"
USAGE_SIGNING = "usage-bootstrap-signing"

CLUSTER_INFO = "cluster-info"
CLUSTER_INFO_NAMESPACE = "kube-public"
KUBECONFIG_KEY = "kubeconfig"
JWS_PREFIX = "jws-kubeconfig-"

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class InvalidToken(ValueError):
    pass


def generate() -> str:
    """A new random token `<id>.<secret>`."""
    pick = lambda n: "".join(secrets.choice(_ALPHABET) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def parse(token: str) -> tuple[str, str]:
    """(id, secret) of a token; InvalidToken with kubeadm's message otherwise."""
    match = TOKEN_RE.match(token.strip())
    if match is None:
        raise InvalidToken(
            f'the bootstrap token "{token}" was not of the form "{TOKEN_RE.pattern}"'
        )
    return match.group(1), match.group(2)


def secret_name(token_id: str) -> str:
    return f"{SECRET_PREFIX}{token_id}"


def new_secret(
    token: str,
    ttl: float | None,
    now: datetime,
    description: str = "",
    usages: tuple[str, ...] = ("authentication", "signing"),
    groups: tuple[str, ...] = (DEFAULT_NODE_GROUP,),
) -> Object:
    """The Secret that holds `token` (`ttl` None or 0: it never expires)."""
    token_id, token_secret = parse(token)
    data = {ID_KEY: token_id, SECRET_KEY: token_secret}
    if ttl:
        data[EXPIRATION_KEY] = times.format_time(now + timedelta(seconds=ttl))
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = "true"
    if groups:
        bad = [g for g in groups if not GROUP_RE.match(g)]
        if bad:
            raise InvalidToken(f'group "{bad[0]}" is not of the form "{GROUP_RE.pattern}"')
        data[EXTRA_GROUPS_KEY] = ",".join(groups)
    if description:
        data[DESCRIPTION_KEY] = description
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(token_id), "namespace": NAMESPACE},
        "type": SECRET_TYPE,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def secret_data(secret: Object) -> dict[str, str]:
    """The decoded `data` of a bootstrap token Secret (entries that do not decode left out)."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, ValueError, TypeError):
            continue
    return out


def token_id_of(secret: Object) -> str | None:
    """The token id of a well-formed bootstrap token Secret (None: not one)."""
    if secret.get("type") != SECRET_TYPE:
        return None
    name = str((secret.get("metadata") or {}).get("name") or "")
    token_id = secret_data(secret).get(ID_KEY, "")
    if name != secret_name(token_id) or not re.fullmatch(r"[a-z0-9]{6}", token_id):
        return None
    return token_id


def expiration(secret: Object) -> datetime | None:
    return times.parse_time(secret_data(secret).get(EXPIRATION_KEY))


def is_expired(secret: Object, now: datetime) -> bool:
    expires = expiration(secret)
    return expires is not None and now >= expires


def extra_groups(secret: Object) -> tuple[str, ...]:
    raw = secret_data(secret).get(EXTRA_GROUPS_KEY, "")
    return tuple(g.strip() for g in raw.split(",") if g.strip())


def usable_for(secret: Object, usage: str, now: datetime) -> bool:
    """A live token Secret with `usage-bootstrap-<usage>: "true"`."""
    if token_id_of(secret) is None or is_expired(secret, now):
        return False
    if meta.is_deleting(secret):
        return False
    return secret_data(secret).get(f"usage-bootstrap-{usage}") == "true"


def detached_signature(content: str, token_id: str, token_secret: str) -> str:
    """The JWS compact serialization of `content` (HS256, header `{"alg":"HS256","kid":<id>}`
    as go-jose writes it) without its payload: `<header>..<signature>`, byte for byte what
    Kubernetes' bootstrap signer puts into `cluster-info` (RFC 7515, appendix F). Two lines of
    HMAC: PyJWT's detached mode writes RFC 7797's unencoded payload instead."""
    header = _b64url(orjson.dumps({"alg": "HS256", "kid": token_id}))
    signing_input = f"{header}.{_b64url(content.encode())}".encode()
    mac = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url(mac)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signature_is_valid(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    expected = detached_signature(content, token_id, token_secret)
    return hmac.compare_digest(expected.encode(), signature.encode())


def cluster_info(server: str, ca_pem: bytes) -> Object:
    """kubeadm's `cluster-info` ConfigMap: a kubeconfig with the cluster's endpoint and CA."""
    kubeconfig: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    "server": server,
                },
            }
        ],
        "contexts": [],
        "current-context": "",
        "preferences": {},
        "users": [],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CLUSTER_INFO, "namespace": CLUSTER_INFO_NAMESPACE},
        "data": {KUBECONFIG_KEY: yaml.safe_dump(kubeconfig, sort_keys=False)},
    }
