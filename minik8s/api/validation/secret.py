"""Validation of Secrets, per type, as Kubernetes' ValidateSecret and ValidateSecretUpdate."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from minik8s.api import errors as api_errors
from minik8s.api import secret as secrets
from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import (
    FIELD_IMMUTABLE,
    child,
    invalid,
    invalid_each,
    key,
    mapping,
    required,
    too_long,
)

IMMUTABLE_SET = "field is immutable when `immutable` is set"
REDACTED = "<secret contents redacted>"
BUGGY_DATA_PATH = "data[%s]"
"""Kubernetes reports basic-auth and ssh-auth keys under this literal path (a `%s` its Go code
never formats); clients may match on it, so it is kept."""


def validate_secret(secret: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    data = mapping(secret, "data")
    total = 0
    raw: dict[str, bytes] = {}
    for data_key, value in data.items():
        causes += invalid_each(key("data", data_key), data_key, fmt.is_config_map_key(data_key))
        try:
            raw[data_key] = base64.b64decode(str(value))
        except (binascii.Error, ValueError):
            raw[data_key] = str(value).encode()
        total += len(raw[data_key])
    if total > secrets.MAX_SECRET_SIZE:
        causes.append(too_long("data", secrets.MAX_SECRET_SIZE))
    kind = secret.get("type") or ""
    if kind == secrets.SERVICE_ACCOUNT_TOKEN:
        annotations = mapping(mapping(secret, "metadata"), "annotations")
        if not annotations.get(secrets.SERVICE_ACCOUNT_NAME_KEY):
            causes.append(
                required(key(child("metadata", "annotations"), secrets.SERVICE_ACCOUNT_NAME_KEY))
            )
    elif kind in (secrets.DOCKERCFG, secrets.DOCKER_CONFIG_JSON):
        data_key = (
            secrets.DOCKERCFG_KEY if kind == secrets.DOCKERCFG else secrets.DOCKER_CONFIG_JSON_KEY
        )
        if data_key not in raw:
            causes.append(required(key("data", data_key)))
        else:
            causes += _json_object(key("data", data_key), raw[data_key])
    elif kind == secrets.BASIC_AUTH:
        if (
            secrets.BASIC_AUTH_USERNAME_KEY not in raw
            and secrets.BASIC_AUTH_PASSWORD_KEY not in raw
        ):
            causes.append(required(key(BUGGY_DATA_PATH, secrets.BASIC_AUTH_USERNAME_KEY)))
            causes.append(required(key(BUGGY_DATA_PATH, secrets.BASIC_AUTH_PASSWORD_KEY)))
    elif kind == secrets.SSH_AUTH:
        if not raw.get(secrets.SSH_AUTH_PRIVATE_KEY):
            causes.append(required(key(BUGGY_DATA_PATH, secrets.SSH_AUTH_PRIVATE_KEY)))
    elif kind == secrets.TLS:
        for data_key in (secrets.TLS_CERT_KEY, secrets.TLS_PRIVATE_KEY_KEY):
            if data_key not in raw:
                causes.append(required(key("data", data_key)))
    # Opaque, bootstrap.kubernetes.io/token and any other type: nothing more (as Kubernetes).
    return causes


def _json_object(path: str, raw: bytes) -> list[Cause]:
    """Kubernetes checks that the docker config is a JSON object (json.Unmarshal's message)."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return [invalid(path, REDACTED, f"invalid character in JSON: {e.args[0]}")]
    if not isinstance(value, dict):
        go_type = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        return [
            invalid(
                path,
                REDACTED,
                f"json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}",
            )
        ]
    return []


def validate_secret_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    if (new.get("type") or "") != (old.get("type") or ""):
        causes.append(invalid("type", new.get("type") or "", FIELD_IMMUTABLE))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            causes.append(api_errors.forbidden("immutable", IMMUTABLE_SET))
        if (new.get("data") or {}) != (old.get("data") or {}):
            causes.append(api_errors.forbidden("data", IMMUTABLE_SET))
    return causes
