"""The cluster's admin credentials: a bearer token generated once, and the kubeconfig file.

`tokens.csv` is the apiserver's `--token-auth-file` (`token,user,uid,"groups"`); the kubeconfig
is the one kubectl and `minik8s.client` read (cluster, user, context `minik8s`).
"""

from __future__ import annotations

import base64
import csv
import io
import os
import secrets
from pathlib import Path

import yaml

from minik8s.cli.launcher.errors import LauncherError

CONTEXT = "minik8s"
"""Name of the cluster, the context and (with `-admin`) the user in the kubeconfig."""
USER = "minik8s-admin"
GROUPS = "system:masters"


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def ensure_token(path: Path) -> str:
    """The admin token from `path`, generated (`secrets.token_hex`) and written on first use."""
    if path.exists():
        return read_token(path)
    token = secrets.token_hex(32)
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerow(
        [token, USER, f"{USER}-uid", GROUPS]
    )
    _write_private(path, out.getvalue())
    return token


def read_token(path: Path) -> str:
    try:
        rows = list(csv.reader(io.StringIO(path.read_text())))
    except OSError as e:
        raise LauncherError(f"cannot read the token file {path}: {e}") from e
    for row in rows:
        if row and row[0].strip():
            return row[0].strip()
    raise LauncherError(f"no token in {path} (remove it to generate a new one)")


def render(server: str, token: str, ca_pem: bytes) -> str:
    """The kubeconfig's YAML text; `ca_pem` is the CA that signed the server's certificate."""
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": USER, "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": USER}}],
            "current-context": CONTEXT,
            "preferences": {},
        },
        sort_keys=False,
    )


def write(path: Path, server: str, token: str, ca_pem: bytes) -> None:
    _write_private(path, render(server, token, ca_pem))
