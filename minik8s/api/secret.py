"""core/v1 Secret conventions (types, well-known keys) and its wire conversion (pure).

`data` values are base64 on the wire, as Go encodes `[]byte`; `stringData` is a write-only
convenience that Kubernetes merges into `data` when it decodes a v1 Secret (a key in both
takes the `stringData` value), so a stored or returned Secret never has `stringData`.
"""

from __future__ import annotations

import base64
import binascii
import string
from typing import Any

from minik8s.api import errors

OPAQUE = "Opaque"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
DOCKERCFG = "kubernetes.io/dockercfg"
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
BASIC_AUTH = "kubernetes.io/basic-auth"
SSH_AUTH = "kubernetes.io/ssh-auth"
TLS = "kubernetes.io/tls"
BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"

DOCKERCFG_KEY = ".dockercfg"
DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson"
BASIC_AUTH_USERNAME_KEY = "username"
BASIC_AUTH_PASSWORD_KEY = "password"
SSH_AUTH_PRIVATE_KEY = "ssh-privatekey"
TLS_CERT_KEY = "tls.crt"
TLS_PRIVATE_KEY_KEY = "tls.key"
SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
SERVICE_ACCOUNT_UID_KEY = "kubernetes.io/service-account.uid"

MAX_SECRET_SIZE = 1024 * 1024
"""Bytes of decoded data a Secret may hold (Kubernetes' MaxSecretSize)."""

_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/=")


def convert_from_v1(secret: dict[str, Any]) -> None:
    """Decode a v1 Secret as Kubernetes does, in place: `data` must be valid base64 (400
    otherwise, Kubernetes' message), is stored canonically encoded, and `stringData` is
    merged into it and dropped. Values of the wrong type are left for validation to report."""
    data = secret.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                data[key] = encode(decode_value(value))
    string_data = secret.get("stringData")
    if string_data is None:
        secret.pop("stringData", None)
        return
    if not isinstance(string_data, dict) or not all(
        isinstance(v, str) for v in string_data.values()
    ):
        return
    if data is None:
        data = secret["data"] = {}
    if isinstance(data, dict):
        for key, value in string_data.items():
            data[key] = encode(value.encode())
        del secret["stringData"]


def decode_value(value: str) -> bytes:
    """One base64 `data` value, as Go's encoding/json decodes `[]byte` (CR and LF ignored)."""
    text = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise errors.BadRequest(
            f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at '
            f"input byte {_illegal_at(text)}"
        ) from e


def _illegal_at(text: str) -> int:
    for i, ch in enumerate(text):
        if ch not in _ALPHABET:
            return i
    return len(text) - len(text) % 4 if len(text) % 4 else max(0, text.find("=") - 1)


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def decoded(secret: dict[str, Any] | None) -> dict[str, bytes]:
    """The Secret's data as bytes (values that do not decode are left out)."""
    result: dict[str, bytes] = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            result[key] = base64.b64decode(value)
        except (binascii.Error, ValueError, TypeError):
            continue
    return result


def secret_type(secret: dict[str, Any]) -> str:
    return str(secret.get("type") or OPAQUE)
