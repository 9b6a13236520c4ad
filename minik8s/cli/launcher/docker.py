"""What real nodes need before their kubelets start: a Docker engine and the local images.

No systemd here: dockerd is started in the background when none answers. No registry either:
the images pods use are built locally by the repository's `deploy/images/build.sh`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from rich.console import Console

from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings

REQUIRED_IMAGES = ("minik8s/pause:latest", "minik8s/busybox:latest", "nginx:latest")
BUILD_SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "images" / "build.sh"
"""Present in a checkout (the project is installed editable by `make setup`)."""


def _docker() -> str:
    found = shutil.which("docker")
    if found is None:
        raise LauncherError("docker not found: run `make setup`")
    return found


def engine_answers() -> bool:
    result = subprocess.run([_docker(), "info"], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


def ensure_engine(settings: LauncherSettings, console: Console, timeout: float = 60.0) -> None:
    """Start dockerd in the background unless an engine answers; wait for it."""
    if engine_answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise LauncherError(
            "no Docker engine answers and dockerd is not installed: run `make setup`"
        )
    log = settings.logs_dir / "dockerd.log"
    with console.status(f"starting dockerd (log: {log})…"), open(log, "ab") as out:
        subprocess.Popen(
            [dockerd],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not engine_answers():
            if time.monotonic() > deadline:
                raise LauncherError(f"dockerd did not answer within {timeout:.0f}s; see {log}")
            time.sleep(0.5)
    console.print("[green]✓[/] started dockerd")


def missing_images() -> list[str]:
    docker = _docker()
    return [
        image
        for image in REQUIRED_IMAGES
        if subprocess.run(
            [docker, "image", "inspect", image], capture_output=True, timeout=30, check=False
        ).returncode
        != 0
    ]


def ensure_images(settings: LauncherSettings, console: Console) -> None:
    """Build the local images that are missing (the first nginx build takes about a minute)."""
    missing = missing_images()
    if not missing:
        return
    if not BUILD_SCRIPT.exists():
        raise LauncherError(f"images missing ({', '.join(missing)}): run `make images`")
    log = settings.logs_dir / "images.log"
    with console.status(f"building {', '.join(missing)} (log: {log})…"), open(log, "ab") as out:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise LauncherError(f"building the images failed; see {log}")
    console.print(f"[green]✓[/] built {', '.join(missing)}")
