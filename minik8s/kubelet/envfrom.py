"""Environment variables from Secrets and ConfigMaps (pure): `env[].valueFrom.secretKeyRef`
and `envFrom` (`configMapRef`/`secretRef`, with `prefix` and `optional`).

As the kubelet: `envFrom` sources come first, in order (a later one overrides an earlier),
then `env` entries override them; keys that are not valid variable names are skipped and
reported; a missing object or key is a `ConfigError` (CreateContainerConfigError) unless
`optional`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from minik8s.api.meta import Object
from minik8s.api.validation import formats as fmt
from minik8s.kubelet.configerror import ConfigError


@dataclass
class EnvFrom:
    values: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """One line per source whose invalid keys were skipped (for a Warning Event)."""


def from_sources(
    container: Object,
    namespace: str,
    configmaps: Mapping[str, Object],
    secrets: Mapping[str, Object],
) -> EnvFrom:
    result = EnvFrom()
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        if source.get("secretRef") is not None:
            kind, ref, objects = "secret", source["secretRef"], secrets
        elif source.get("configMapRef") is not None:
            kind, ref, objects = "configmap", source["configMapRef"], configmaps
        else:
            continue
        name = ref.get("name") or ""
        obj = objects.get(name)
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind} "{name}" not found')
        data = _secret_values(obj) if kind == "secret" else dict(obj.get("data") or {})
        invalid = []
        for key, value in data.items():
            variable = prefix + key
            if fmt.is_env_var_name(variable):
                invalid.append(variable)
                continue
            result.values[variable] = value
        if invalid:
            what = "secret" if kind == "secret" else "configMap"
            result.skipped.append(
                f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {what} {namespace}/{name} "
                f"were skipped since they are considered invalid environment variable names."
            )
    return result


def secret_key(ref: Object, namespace: str, secrets: Mapping[str, Object]) -> str | None:
    """The value of a `secretKeyRef`; None when it is optional and missing."""
    name, key = ref.get("name") or "", ref.get("key") or ""
    secret = secrets.get(name)
    if secret is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'secret "{name}" not found')
    value = _secret_values(secret).get(key)
    if value is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in Secret {namespace}/{name}")
    return value


def _secret_values(secret: Object) -> dict[str, str]:
    values = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(value).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError, TypeError) as e:
            raise ConfigError(f"secret key {key}: invalid base64") from e
    return values
