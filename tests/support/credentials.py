"""An apiserver with Secrets encrypted at rest and ServiceAccount tokens, for tests."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from minik8s import pki
from minik8s.cli.launcher import encryption

ISSUER = "https://kubernetes.default.svc.cluster.local"
ETCDCTL = "/usr/bin/etcdctl"


def encryption_config(directory: Path) -> Path:
    """An EncryptionConfiguration encrypting Secrets with a new aescbc key (mode 0600), as
    `minik8s up` writes it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "encryption-config.yaml"
    pki.write_private(path, encryption.config(secrets.token_bytes(32)).encode())
    return path


def apiserver_args(directory: Path) -> list[str]:
    """Flags for encryption at rest and service account tokens, with files in `directory`."""
    keys = pki.ensure_service_account_key(directory / "pki")
    return [
        f"--encryption-provider-config={encryption_config(directory)}",
        f"--service-account-issuer={ISSUER}",
        f"--service-account-key-file={keys.pub}",
        f"--service-account-signing-key-file={keys.key}",
    ]


def etcdctl_get(etcd_url: str, key: str) -> bytes:
    """The raw value at `key`, as `etcdctl get --print-value-only` prints it."""
    binary = shutil.which("etcdctl") or ETCDCTL
    result = subprocess.run(
        [binary, f"--endpoints={etcd_url}", "get", key, "--print-value-only"],
        capture_output=True,
        env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
        timeout=20,
        check=True,
    )
    return result.stdout
