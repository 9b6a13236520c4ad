"""The compose nodes' worker names (deploy/compose/nodename.py, loaded by path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, COMPOSE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nodename() -> ModuleType:
    return load("nodename")


def test_worker_names_from_container_names(nodename: ModuleType) -> None:
    assert nodename.node_name("deploy_worker_3.deploy_default", "worker") == "worker-3"
    assert nodename.node_name("my-project-worker-12", "worker") == "worker-12"
    assert nodename.node_name("deploy_node-1_1", "worker") is None


def test_dns_names_with_compression(nodename: ModuleType) -> None:
    message = b"\0" * 12 + nodename.encode_name("a.example") + b"\x03www\xc0\x0c"
    assert nodename.read_name(message, 12) == "a.example"
    assert nodename.read_name(message, 12 + 11) == "www.a.example"
