"""The launcher starts every component with glibc malloc capped at two arenas (a value already
in the environment wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minik8s.cli.launcher import processes
from minik8s.cli.launcher.components import Instance
from minik8s.cli.launcher.settings import LauncherSettings


def _environment_of_a_started_process(tmp_path: Path) -> str:
    settings = LauncherSettings(home=tmp_path)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.log_file("probe").parent.mkdir(parents=True, exist_ok=True)
    argv = ["sh", "-c", f"echo arenas=$MALLOC_ARENA_MAX # {tmp_path}"]
    popen = processes.start(settings, Instance("probe", argv, None, 5.0))
    assert popen.wait(timeout=10) == 0
    return settings.log_file("probe").read_text()


def test_components_get_two_malloc_arenas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert "arenas=2\n" in _environment_of_a_started_process(tmp_path)


def test_an_arena_limit_in_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "16")
    assert "arenas=16\n" in _environment_of_a_started_process(tmp_path)
