"""Shared fixtures: a real etcd and a real apiserver process on free loopback ports."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Apiserver, Etcd, leaked_processes, temp_dir


@pytest.fixture(scope="session", autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail the session when a test leaves a process it started running."""
    yield
    leaked = leaked_processes()
    assert not leaked, "tests left processes running (now killed):\n" + "\n".join(leaked)


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[Etcd]:
    """One etcd for the session; tests isolate themselves by namespace or unique names."""
    work = temp_dir("minik8s-etcd-")
    etcd = Etcd(work)
    etcd.start()
    yield etcd
    etcd.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def apiserver(etcd_server: Etcd) -> Iterator[Apiserver]:
    """One apiserver (with token auth) for the session."""
    work = temp_dir("minik8s-apiserver-")
    server = Apiserver(etcd_server.url, work, token=secrets.token_hex(16))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture()
def fresh_etcd(tmp_path: Path) -> Iterator[Etcd]:
    """An etcd of this test's own, for tests that restart or compact it."""
    etcd = Etcd(tmp_path / "etcd")
    etcd.start()
    yield etcd
    etcd.stop()


@pytest.fixture()
def kubeconfig(apiserver: Apiserver, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="deeper runs of the fuzz suite (ten times the requests)",
    )
