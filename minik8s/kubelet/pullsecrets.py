"""Registry credentials for an image from the pod's `imagePullSecrets` (pure).

Like Kubernetes' credential keyring: `kubernetes.io/dockerconfigjson` (`{"auths": {…}}`) and
`kubernetes.io/dockercfg` (the legacy `{registry: {…}}`) secrets give entries keyed by a
registry (`127.0.0.1:5000`, `https://index.docker.io/v1/`, `*.example.com`, `host/path`). An
entry matches an image when the host (with `*` globs) and port are equal and its path is a
prefix of the image's repository; the most specific entries come first. The kubelet tries
each match in order and pulls anonymously when none matches.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable

from minik8s.api import secret as secrets
from minik8s.api.meta import Object

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "docker.io"}

Auth = dict[str, str]
"""Docker's auth config: username, password, serveraddress."""


def registry_and_path(image: str) -> tuple[str, str]:
    """(`host[:port]`, repository path) of an image reference; Docker Hub for bare names."""
    name = image.split("@", 1)[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name if sep else f"library/{name}"
    last = path.rsplit("/", 1)
    if ":" in last[-1]:
        path = path[: path.rfind(":")]
    return host, path


def entries(secret_objects: Iterable[Object]) -> list[tuple[str, Auth]]:
    """(registry key, auth) of every docker config entry of the secrets, in order."""
    found: list[tuple[str, Auth]] = []
    for obj in secret_objects:
        data = secrets.decoded(obj)
        kind = secrets.secret_type(obj)
        try:
            if kind == secrets.DOCKER_CONFIG_JSON and secrets.DOCKER_CONFIG_JSON_KEY in data:
                config = json.loads(data[secrets.DOCKER_CONFIG_JSON_KEY]).get("auths") or {}
            elif kind == secrets.DOCKERCFG and secrets.DOCKERCFG_KEY in data:
                config = json.loads(data[secrets.DOCKERCFG_KEY])
            else:
                continue
        except (ValueError, AttributeError):
            continue
        for key, entry in config.items():
            auth = _auth(entry, key) if isinstance(entry, dict) else None
            if auth is not None:
                found.append((key, auth))
    return found


def credentials_for(image: str, secret_objects: Iterable[Object]) -> list[Auth]:
    """The auths to try for `image`, most specific registry key first."""
    host, path = registry_and_path(image)
    matches = [(key, auth) for key, auth in entries(secret_objects) if _matches(key, host, path)]
    matches.sort(key=lambda item: len(_normalize(item[0])), reverse=True)
    return [auth for _, auth in matches]


def _auth(entry: Object, key: str) -> Auth | None:
    username, password = entry.get("username"), entry.get("password")
    if (not username or password is None) and entry.get("auth"):
        try:
            username, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
    if not username:
        return None
    return {"username": str(username), "password": str(password or ""), "serveraddress": key}


def _normalize(key: str) -> str:
    for scheme in ("https://", "http://"):
        key = key.removeprefix(scheme)
    for suffix in ("/v1/", "/v2/", "/v1", "/v2"):
        key = key.removesuffix(suffix)
    return key.rstrip("/")


def _matches(key: str, host: str, path: str) -> bool:
    key_host, _, key_path = _normalize(key).partition("/")
    if key_host in _HUB_ALIASES and host == DOCKER_HUB:
        key_host = DOCKER_HUB
    key_name, _, key_port = key_host.partition(":")
    name, _, port = host.partition(":")
    if key_port != port or not fnmatch.fnmatchcase(name, key_name):
        return False
    return not key_path or path == key_path or path.startswith(key_path.rstrip("/") + "/")
