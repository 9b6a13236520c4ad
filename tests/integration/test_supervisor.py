"""`minik8s supervise` with real processes (no cluster): it restarts what `up` listed when it
dies, logs how each ended, backs off a component that keeps crashing, refuses a second
supervisor for the same home and leaves the components running when it gets SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.cli.launcher import supervisor
from minik8s.cli.launcher.components import Instance
from minik8s.cli.launcher.settings import LauncherSettings
from tests.support.launcher import LAUNCHER, alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _pid(settings: LauncherSettings, name: str) -> int | None:
    try:
        pid = int(settings.pid_file(name).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def _restarts(settings: LauncherSettings, name: str) -> int:
    return supervisor.load_restarts(settings).get(name, supervisor.Restarts()).count


@pytest.fixture()
def supervised(tmp_path: Path) -> Iterator[tuple[LauncherSettings, subprocess.Popen[bytes]]]:
    settings = LauncherSettings(home=tmp_path / "home")
    settings.run_dir.mkdir(parents=True)
    settings.logs_dir.mkdir()
    home = settings.home
    steady = [sys.executable, "-c", "import time; time.sleep(300)", f"{home}/steady"]
    crasher = [sys.executable, "-c", "import sys; sys.exit(3)", f"{home}/crasher"]
    supervisor.write_spec(
        settings, [Instance("steady", steady, None, 0), Instance("crasher", crasher, None, 0)]
    )
    with open(settings.log_file(supervisor.NAME), "ab") as log:
        popen = subprocess.Popen(
            [*LAUNCHER, "supervise", f"--home={home}", "--backoff=0.3s", "--max-backoff=1.2s",
             "--interval=0.1s"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield settings, popen
    finally:
        for name in ("steady", "crasher"):
            if (pid := _pid(settings, name)) is not None:
                os.kill(pid, signal.SIGKILL)
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)


def test_restarts_with_growing_delays_and_stops_cleanly(
    supervised: tuple[LauncherSettings, subprocess.Popen[bytes]],
) -> None:
    settings, popen = supervised
    log = settings.log_file(supervisor.NAME)
    first = wait_for(lambda: _pid(settings, "steady"), "the supervisor to start `steady`")

    os.kill(first, signal.SIGKILL)
    second = wait_for(
        lambda: (pid := _pid(settings, "steady")) != first and pid,
        "`steady` to run again after SIGKILL",
    )
    assert _restarts(settings, "steady") == 2  # started once (it did not run), then restarted
    assert "steady killed by SIGKILL; restarting it (restart 2)" in log.read_text()
    assert "minik8s supervise: steady killed by SIGKILL" in settings.log_file("steady").read_text()

    wait_for(lambda: _restarts(settings, "crasher") >= 5, "`crasher` restarted 5 times", 20)
    text = log.read_text()
    waits = re.findall(r"crasher exited with code 3; back-off ([\d.]+)s", text)
    assert [float(w) for w in waits[:4]] == [0.3, 0.6, 1.2, 1.2], text
    state = json.loads(supervisor.restarts_file(settings).read_text())
    assert state["crasher"]["last_exit"] == "exited with code 3"

    again = subprocess.run(
        [*LAUNCHER, "supervise", f"--home={settings.home}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert again.returncode == 1
    assert again.stderr.startswith("error: a supervisor already runs for"), again.stderr

    os.kill(popen.pid, signal.SIGTERM)
    assert popen.wait(10) == 0
    assert alive(second), "the components outlive their supervisor"
    assert not settings.pid_file(supervisor.NAME).exists()
