"""One-time logins (`minik8s dashboard`): a credential handed to the dashboard through a
private directory, redeemed once with a short random code.

`minik8s dashboard` (run by the user, who can read their kubeconfig) writes the user's
credential into `<grant dir>/<sha256(code)>.json` (mode 0600, the directory 0700) and prints
`http://127.0.0.1:<port>/login?code=<code>`. The dashboard consumes the file on the first
visit (an atomic rename: a second visit finds nothing), checks its expiry, and answers with a
session cookie and a redirect to `/`: the code is spent and the credential never travels in a
URL. Only a process that can write the directory (the cluster's owner) can mint a login.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from minik8s.client.kubeconfig import ClientConfig

GRANT_TTL = 120.0
"""Seconds a one-time login stays valid after `minik8s dashboard` printed it."""
CODE_BYTES = 24


@dataclass(frozen=True)
class Credential:
    """What authenticates the user to the apiserver: a bearer token, or a client certificate."""

    token: str | None = None
    client_certificate_data: bytes | None = None
    client_key_data: bytes | None = None

    @classmethod
    def from_config(cls, config: ClientConfig) -> Credential:
        """The user part of a kubeconfig (certificate files are read into data)."""
        cert, key = config.client_certificate_data, config.client_key_data
        if config.client_certificate and cert is None:
            cert = Path(config.client_certificate).read_bytes()
        if config.client_key and key is None:
            key = Path(config.client_key).read_bytes()
        if not config.token and not (cert and key):
            raise ValueError("the kubeconfig's user has neither a token nor a client certificate")
        return cls(config.token, cert, key)

    def to_json(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.token:
            out["token"] = self.token
        if self.client_certificate_data and self.client_key_data:
            out["client-certificate-data"] = base64.b64encode(self.client_certificate_data).decode()
            out["client-key-data"] = base64.b64encode(self.client_key_data).decode()
        return out

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Credential:
        cert, key = data.get("client-certificate-data"), data.get("client-key-data")
        return cls(
            data.get("token") or None,
            base64.b64decode(cert) if cert else None,
            base64.b64decode(key) if key else None,
        )


def _file(directory: Path, code: str) -> Path:
    return directory / (hashlib.sha256(code.encode()).hexdigest() + ".json")


def mint(directory: Path, credential: Credential, ttl: float = GRANT_TTL) -> str:
    """Write a one-time login for `credential`; return its code."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    code = secrets.token_urlsafe(CODE_BYTES)
    body = json.dumps({"expires": time.time() + ttl, "credential": credential.to_json()})
    path = _file(directory, code)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(body)
    return code


def redeem(directory: Path, code: str) -> Credential | None:
    """The credential of `code`, once: None if unknown, already used or expired."""
    if not code or len(code) > 256:
        return None
    path = _file(directory, code)
    taken = path.with_suffix(f".taken-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, taken)  # atomic: of two visits, one wins
    except OSError:
        return None
    try:
        data = json.loads(taken.read_text())
    except (OSError, ValueError):
        return None
    finally:
        taken.unlink(missing_ok=True)
    if not isinstance(data, dict) or float(data.get("expires", 0)) < time.time():
        return None
    return Credential.from_json(data.get("credential") or {})


def sweep(directory: Path) -> None:
    """Remove expired logins nobody redeemed."""
    now = time.time()
    for path in directory.glob("*.json"):
        try:
            if float(json.loads(path.read_text()).get("expires", 0)) < now:
                path.unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):
            path.unlink(missing_ok=True)
