"""Where the apiserver is and how to authenticate: `ClientConfig`, read from a kubeconfig file.

The file is the one kubectl reads (clusters, users, contexts, current-context). Lookup order:
the explicit path, else the first entry of `$KUBECONFIG`, else `~/.minik8s/kubeconfig`, else
`~/.kube/config`. Relative file paths inside the file are relative to the file, as in kubectl.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "default"


def kubeconfig_document(
    server: str,
    ca_pem: bytes | None,
    user: str,
    credentials: dict[str, str],
    *,
    ca_file: str | None = None,
    cluster_name: str = "default-cluster",
    context_name: str = "default-context",
) -> dict[str, Any]:
    """A kubeconfig of one cluster, one user and one (current) context, as kubeadm writes a
    node's (`default-cluster`, `default-context`): the CA inline (`ca_pem`) or as a file
    (`ca_file`), or neither (plain HTTP); `credentials` is the user's entry (`token`, or
    `client-certificate` and `client-key`, ...; empty for none)."""
    cluster: dict[str, str] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    if ca_file is not None:
        cluster["certificate-authority"] = ca_file
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user, "user": dict(credentials)}],
        "contexts": [{"name": context_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context_name,
        "preferences": {},
    }


class ConfigError(Exception):
    """A kubeconfig that is missing or cannot be used; the message is one line."""


@dataclass
class ClientConfig:
    """Everything needed to reach and authenticate to one apiserver."""

    server: str
    """Base URL of the apiserver, e.g. `http://127.0.0.1:6443`."""
    token: str | None = None
    """Bearer token sent in the Authorization header."""
    certificate_authority: str | None = None
    """Path of a PEM bundle of CAs to trust for the server's certificate."""
    certificate_authority_data: bytes | None = None
    """PEM bytes of CAs to trust (the kubeconfig's base64 `certificate-authority-data`)."""
    client_certificate: str | None = None
    """Path of a PEM client certificate."""
    client_key: str | None = None
    """Path of the PEM key of the client certificate."""
    client_certificate_data: bytes | None = None
    client_key_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    namespace: str = DEFAULT_NAMESPACE
    """Namespace used when a namespaced call does not name one."""

    @classmethod
    def from_url(cls, server: str, token: str | None = None) -> ClientConfig:
        return cls(server=server.rstrip("/"), token=token)

    def auth_headers(self) -> dict[str, str]:
        """The headers that authenticate a request (a bearer token; client certificates go in
        the TLS context): every HTTP request and WebSocket of the client sends them."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def websocket_url(self, path: str) -> str:
        """`wss://…` (or `ws://…`) for `path` on the server, for exec and attach streams."""
        base = self.server.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base.removeprefix("https://") + path
        return "ws://" + base.removeprefix("http://") + path


def default_kubeconfig_path() -> Path | None:
    """The file `load_kubeconfig()` reads when no path is given, or None if none exists."""
    for candidate in _candidates():
        if candidate.is_file():
            return candidate
    return None


def _candidates() -> list[Path]:
    env = os.environ.get("KUBECONFIG", "")
    entries = [e for e in env.split(os.pathsep) if e.strip()]
    if entries:
        return [Path(entries[0]).expanduser()]
    home = Path.home()
    return [home / ".minik8s" / "kubeconfig", home / ".kube" / "config"]


def load_kubeconfig(path: str | Path | None = None, context: str | None = None) -> ClientConfig:
    """Read a kubeconfig file and return the config of `context` (else the current one)."""
    if path is None:
        found = default_kubeconfig_path()
        if found is None:
            looked = ", ".join(str(p) for p in _candidates())
            raise ConfigError(f"no kubeconfig found (looked at {looked})")
        path = found
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except FileNotFoundError as e:
        raise ConfigError(f"kubeconfig {file} does not exist") from e
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {file}: {e.strerror}") from e
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"kubeconfig {file} is not valid YAML{where}") from e
    if not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {file} is not a mapping")
    return config_from_dict(document, context=context, base_dir=file.parent, source=str(file))


def config_from_dict(
    document: dict[str, Any],
    *,
    context: str | None = None,
    base_dir: Path | None = None,
    source: str = "kubeconfig",
) -> ClientConfig:
    """Build a `ClientConfig` from a parsed kubeconfig document."""
    contexts = _named(document, "contexts", "context", source)
    context_name = context or document.get("current-context") or None
    if context_name is None:
        if len(contexts) != 1:
            raise ConfigError(f"{source}: no current-context set and no context given")
        context_name = next(iter(contexts))
    if context_name not in contexts:
        raise ConfigError(f'{source}: context "{context_name}" not found')
    ctx = contexts[context_name]

    clusters = _named(document, "clusters", "cluster", source)
    cluster_name = ctx.get("cluster")
    if cluster_name not in clusters:
        raise ConfigError(
            f'{source}: cluster "{cluster_name}" of context "{context_name}" not found'
        )
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f'{source}: cluster "{cluster_name}" has no server')

    users = _named(document, "users", "user", source)
    user_name = ctx.get("user")
    user: dict[str, Any] = {}
    if user_name is not None:
        if user_name not in users:
            raise ConfigError(f'{source}: user "{user_name}" of context "{context_name}" not found')
        user = users[user_name]

    def resolve(value: Any) -> str | None:
        if not value:
            return None
        p = Path(str(value)).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        return str(p)

    return ClientConfig(
        server=server.rstrip("/"),
        token=_token(user, str(user_name), resolve, source),
        certificate_authority=resolve(cluster.get("certificate-authority")),
        certificate_authority_data=_b64(cluster, "certificate-authority-data", source),
        client_certificate=resolve(user.get("client-certificate")),
        client_key=resolve(user.get("client-key")),
        client_certificate_data=_b64(user, "client-certificate-data", source),
        client_key_data=_b64(user, "client-key-data", source),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=str(ctx.get("namespace") or DEFAULT_NAMESPACE),
    )


def _named(document: dict[str, Any], section: str, inner: str, source: str) -> dict[str, dict]:
    """`clusters: [{name, cluster: {...}}]` as `{name: {...}}`."""
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {section} must be a list")
    named: dict[str, dict] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{source}: every entry of {section} needs a name")
        body = entry.get(inner) or {}
        if not isinstance(body, dict):
            raise ConfigError(f'{source}: {section} entry "{entry["name"]}" is not a mapping')
        named[str(entry["name"])] = body
    return named


def _token(
    user: dict[str, Any], user_name: str, resolve: Callable[[Any], str | None], source: str
) -> str | None:
    if user.get("token"):
        return str(user["token"])
    token_file = resolve(user.get("tokenFile"))
    if token_file:
        try:
            return Path(token_file).read_text().strip()
        except OSError as e:
            raise ConfigError(f"{source}: cannot read tokenFile {token_file}: {e.strerror}") from e
    for unsupported in ("exec", "auth-provider", "username"):
        if user.get(unsupported):
            raise ConfigError(f'{source}: user "{user_name}" uses {unsupported}, not supported')
    return None


def _b64(section: dict[str, Any], key: str, source: str) -> bytes | None:
    value = section.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"{source}: {key} is not valid base64") from e
