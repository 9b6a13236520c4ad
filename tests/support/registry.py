"""A real registry (Debian's docker-registry) on a free loopback port, for pull tests.

Docker trusts registries on 127.0.0.0/8 over plain HTTP without any daemon configuration.
With `htpasswd` users, the registry asks for HTTP basic auth (bcrypt hashes, as `htpasswd -B`
writes them).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import bcrypt
import httpx
import pytest
import yaml

from tests.support.processes import Process, free_port, temp_dir
from tests.support.waiting import wait_for

REGISTRY_PACKAGE = "docker-registry"


@contextlib.contextmanager
def running_registry(users: dict[str, str] | None = None) -> Iterator[str]:
    """A registry of its own, stopped and removed after; its `host:port`."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail(
            f"the `docker-registry` binary is missing: install Debian's {REGISTRY_PACKAGE} "
            f"package (`apt-get install {REGISTRY_PACKAGE}`, or `bash deploy/setup-system.sh`)"
        )
    work = temp_dir("minik8s-registry-")
    host = f"127.0.0.1:{free_port()}"
    config: dict = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": str(work / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": host},
    }
    if users:
        lines = [
            f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
            for user, password in users.items()
        ]
        (work / "htpasswd").write_text("\n".join(lines) + "\n")
        config["auth"] = {"htpasswd": {"realm": "minik8s-test", "path": str(work / "htpasswd")}}
    (work / "config.yml").write_text(yaml.safe_dump(config))
    process = Process("docker-registry", [binary, "serve", str(work / "config.yml")], work / "log")
    process.start()

    def answering() -> bool:
        if not process.alive():
            raise AssertionError(f"docker-registry exited:\n{process.log_tail()}")
        expected = 401 if users else 200
        return httpx.get(f"http://{host}/v2/", timeout=1).status_code == expected

    try:
        wait_for(answering, f"docker-registry on {host} to answer GET /v2/", timeout=20)
        yield host
    finally:
        process.stop()
        shutil.rmtree(work, ignore_errors=True)
