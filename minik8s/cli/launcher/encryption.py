"""The cluster's encryption at rest: an EncryptionConfiguration that encrypts Secrets in etcd
with AES-CBC under a random 32-byte key, made once, readable by its owner only (0600)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import yaml

from minik8s import pki


def config(key: bytes, key_name: str = "key1") -> str:
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"aescbc": {"keys": [{"name": key_name,
                                          "secret": base64.b64encode(key).decode()}]}},
                    {"identity": {}},
                ],
            }
        ],
    }  # fmt: skip
    return yaml.safe_dump(document, sort_keys=False)


def ensure_config(path: Path) -> Path:
    """Write the configuration with a new key unless it exists (a new key would make the
    Secrets already in etcd unreadable)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pki.write_private(path, config(secrets.token_bytes(32)).encode())
    return path
