"""The import layering of DESIGN.md, checked in CI: import-linter's contracts (pyproject's
[tool.importlinter], also run by `make lint`) hold, and every package of minik8s is in them."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_is_in_a_layer() -> None:
    """A new component must join the components layer, or nothing checks its imports."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = {name for layer in layers for name in re.findall(r"[a-z_]+", layer)}
    packages = {p.parent.name for p in (ROOT / "minik8s").glob("*/__init__.py")}
    assert packages <= named, f"not in the layers contract: {sorted(packages - named)}"


def _defining(pattern: str) -> list[str]:
    regex = re.compile(pattern, re.M)
    return sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "minik8s").rglob("*.py")
        if regex.search(path.read_text(encoding="utf-8"))
    )


def test_the_shared_vocabulary_is_defined_once() -> None:
    """One `Object` alias (api/meta.py) and one place for Kubernetes' timestamp format
    (api/times.py): a module that needs them imports them instead of writing its own."""
    assert _defining(r"^Object\s*(:\s*TypeAlias\s*)?=") == ["minik8s/api/meta.py"]
    assert _defining(r"%Y-%m-%dT%H:%M:%S") == ["minik8s/api/times.py"]


COMPONENTS_WITH_A_LOOP = ("scheduler", "controllers", "kubelet", "proxy", "hostgw", "dns",
                          "metricsserver", "cloudcontroller", "dashboard", "kubemark")  # fmt: skip


@pytest.mark.parametrize("component", [*COMPONENTS_WITH_A_LOOP, "apiserver"])
def test_every_process_has_one_predictable_main(component: str) -> None:
    """`<component>/server.py` holds the process: `main()` (what cmd/ and `python -m` run) and
    `run(settings, stop)`; `<component>/config.py` its `parse_args`. The apiserver's loop is
    uvicorn's, so it has `main` alone."""
    server = importlib.import_module(f"minik8s.{component}.server")
    config = importlib.import_module(f"minik8s.{component}.config")
    assert callable(server.main) and callable(config.parse_args)
    if component in COMPONENTS_WITH_A_LOOP:
        assert inspect.iscoroutinefunction(server.run)
        assert list(inspect.signature(server.run).parameters) == ["settings", "stop"]
