"""`--encryption-provider-config`: Kubernetes' EncryptionConfiguration (apiserver.config.k8s.io/v1).

```yaml
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]            # plural, `plural.group`, `*.` (all core), `*.group`, `*.*`
    providers:
      - aescbc: {keys: [{name: key1, secret: <base64 of 32 random bytes>}]}
      - secretbox: {keys: [{name: key2, secret: <base64 of 32 bytes>}]}
      - identity: {}
```
The first rule that names a resource decides its providers. `aesgcm` and `kms` are refused at
start-up with a clear error (not implemented), never silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
from pathlib import Path
from typing import Any

import yaml

from minik8s.api import resources
from minik8s.store import encryption

API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1")
KIND = "EncryptionConfiguration"
SUPPORTED = ("aescbc", "secretbox", "identity")
UNSUPPORTED = ("aesgcm", "kms")


class ConfigError(ValueError):
    """The file is not a valid EncryptionConfiguration minik8s can honour; says why."""


def load(path: str | Path) -> encryption.ResourceTransformer:
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from e
    return parse(document, str(path))


def parse(document: Any, where: str = "encryption config") -> encryption.ResourceTransformer:
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected an EncryptionConfiguration object")
    if document.get("kind") != KIND or document.get("apiVersion") not in API_VERSIONS:
        raise ConfigError(
            f"{where}: expected kind {KIND} in apiVersion {API_VERSIONS[0]}, got "
            f"{document.get('kind')!r} in {document.get('apiVersion')!r}"
        )
    chains: dict[str, encryption.ProviderChain] = {}
    for i, rule in enumerate(document.get("resources") or []):
        at = f"{where}: resources[{i}]"
        names = (rule or {}).get("resources") or []
        if not names:
            raise ConfigError(f"{at}.resources: at least one resource is required")
        chain = encryption.ProviderChain(_providers((rule or {}).get("providers") or [], at))
        for rt in resources.RESOURCES:
            if rt.plural not in chains and any(_matches(name, rt) for name in names):
                chains[rt.plural] = chain
    return encryption.ResourceTransformer(chains)


def _matches(pattern: str, rt: resources.ResourceType) -> bool:
    """`secrets` (core), `deployments.apps`, `*.` (every core resource), `*.apps`, `*.*`."""
    qualified = f"{rt.plural}.{rt.group}" if rt.group else f"{rt.plural}."
    if "." not in pattern:
        pattern += "."
    return fnmatch.fnmatchcase(qualified, pattern)


def _providers(items: list[Any], at: str) -> list[encryption.Provider]:
    if not items:
        raise ConfigError(f"{at}.providers: at least one provider is required")
    providers: list[encryption.Provider] = []
    for j, item in enumerate(items):
        where = f"{at}.providers[{j}]"
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{where}: exactly one provider type per entry")
        ((kind, body),) = item.items()
        if kind in UNSUPPORTED:
            raise ConfigError(
                f"{where}: the {kind} provider is not supported by minik8s "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        if kind not in SUPPORTED:
            raise ConfigError(f"{where}: unknown provider {kind!r}")
        if kind == "identity":
            providers.append(encryption.Identity())
            continue
        keys = (body or {}).get("keys") or []
        if not keys:
            raise ConfigError(f"{where}.{kind}.keys: at least one key is required")
        for k, key in enumerate(keys):
            name, raw = _key(key, f"{where}.{kind}.keys[{k}]")
            try:
                providers.append(
                    encryption.AesCbc(name, raw)
                    if kind == "aescbc"
                    else encryption.SecretBox(name, raw)
                )
            except ValueError as e:
                raise ConfigError(f"{where}.{kind}.keys[{k}]: {e}") from e
    return providers


def _key(key: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(key, dict) or not key.get("name") or not key.get("secret"):
        raise ConfigError(f"{where}: a key needs a name and a secret")
    try:
        return str(key["name"]), base64.b64decode(str(key["secret"]), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"{where}.secret: not valid base64") from e
