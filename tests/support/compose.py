"""Start-up and teardown of a docker-compose cluster for the compose e2e tests.

test_compose.py and test_compose_ha.py each run one cluster for their whole file under their own
project name: `started` checks the images, runs `up -d` (timed), and on the way out prints the
logs of the services that matter when a test failed, runs `down -v` and removes the work folder.
`explained` prints, when the block it wraps fails, what the cluster looked like at that moment:
compose's view of the services, the last lines of their logs and kubectl's answers.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from tests.support.keys import holds_key_of

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TAG = os.environ.get("MINIK8S_IMAGE_TAG", "latest")
IMAGES = (f"minik8s/minik8s:{TAG}", f"minik8s/node:{TAG}", "minik8s/etcd")
NODE_IMAGES = Path.home() / ".minik8s" / "cache" / "node-images.tar"


class Project(Protocol):
    """What `started` needs of a test file's cluster class."""

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]: ...

    def down(self) -> None: ...


class Explainable(Project, Protocol):
    """What `explained` needs: kubectl against the cluster (with its own request timeout)."""

    def kubectl(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]: ...


P = TypeVar("P", bound=Project)


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if probe.returncode == 0 else None


@contextmanager
def started(
    request: pytest.FixtureRequest,
    new: Callable[[list[str], Path], P],
    *,
    images: Iterable[str],
    work_prefix: str,
    up_timeout: float,
    timings: dict[str, float],
    timings_label: str,
    log_services: Iterable[str],
    log_tail: int,
    log_chars: int,
) -> Iterator[P]:
    """`new(compose, work)` brought up with `up -d` (its time in `timings["up -d"]`); on exit the
    last `log_tail` lines of `log_services` if a test failed, `down -v`, the work folder removed
    and `timings` printed under `timings_label`."""
    compose = compose_command()
    if compose is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed")
    missing = [
        image
        for image in images
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    assert not missing and NODE_IMAGES.exists(), (
        f"images missing ({', '.join(missing) or NODE_IMAGES}): run `make compose-images`"
    )
    work = Path(tempfile.mkdtemp(prefix=work_prefix))
    cluster = new(compose, work)
    try:
        began = time.monotonic()
        cluster.run("up", "-d", timeout=up_timeout)
        timings["up -d"] = time.monotonic() - began
        yield cluster
    finally:
        try:
            if request.session.testsfailed:
                for service in log_services:
                    print(f"--- logs {service}")
                    print(cluster.run("logs", "--tail", str(log_tail), service).stdout[-log_chars:])
            cluster.down()
        finally:
            shutil.rmtree(work, ignore_errors=True)
            print(f"{timings_label}:", {k: round(v, 1) for k, v in timings.items()})


def _bounded(text: str, chars: int) -> str:
    return text if len(text) <= chars else f"[... {len(text) - chars} chars cut]\n{text[-chars:]}"


def explain(
    cluster: Explainable,
    *,
    services: Iterable[str],
    kubectl: Iterable[Sequence[str]],
    tail: int = 80,
    chars: int = 6000,
) -> None:
    """Print compose's `ps`, the last `tail` lines (at most `chars` characters) of each of
    `services`' logs and each `kubectl` command's output: what a failure needs to explain
    itself. Every step is bounded in time and never raises."""

    def show(title: str, run: Callable[[], subprocess.CompletedProcess[str]]) -> None:
        print(f"--- {title}")
        try:
            result = run()
            print(_bounded((result.stdout + result.stderr).rstrip(), chars))
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            print(f"({e!r:.300})")

    show("compose ps", lambda: cluster.run("ps", "-a", timeout=30))
    for args in kubectl:
        show(f"kubectl {' '.join(args)}", lambda args=args: cluster.kubectl(*args, timeout=15))
    for service in services:
        show(
            f"logs {service} (last {tail} lines)",
            lambda service=service: cluster.run(
                "logs", "--timestamps", "--tail", str(tail), service, timeout=30
            ),
        )


@contextmanager
def explained(
    cluster: Explainable,
    *,
    services: Iterable[str],
    kubectl: Iterable[Sequence[str]],
    tail: int = 80,
    chars: int = 6000,
) -> Iterator[None]:
    """Run the block; if it raises, `explain` the cluster as it is then and re-raise."""
    try:
        yield
    except BaseException:
        print("=== the cluster when the test failed")
        explain(cluster, services=services, kubectl=kubectl, tail=tail, chars=chars)
        raise


def mounted_files(container: str) -> dict[str, bytes]:
    """Every regular file under each mount of `container` (`<mount>/<path>` -> its bytes),
    read with `docker cp` (again if a file changed while it was read): whatever the
    container's image has (etcd's has no shell), running or exited."""
    destinations = subprocess.run(
        ["docker", "inspect", "-f", "{{range .Mounts}}{{.Destination}} {{end}}", container],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    files: dict[str, bytes] = {}
    for destination in destinations:
        for _attempt in range(3):  # a file that grows while it is read (etcd's db) fails it
            copied = subprocess.run(
                ["docker", "cp", f"{container}:{destination}", "-"],
                capture_output=True, timeout=120, check=False,
            )  # fmt: skip
            if copied.returncode == 0:
                break
        assert copied.returncode == 0, f"docker cp {container}:{destination}: {copied.stderr!r}"
        with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
            for member in tar.getmembers():
                read = tar.extractfile(member) if member.isfile() else None
                if read is not None:
                    inside = member.name.split("/", 1)[1] if "/" in member.name else ""
                    files[f"{destination.rstrip('/')}/{inside}"] = read.read()
    return files


def holders_of_key(files: dict[str, bytes], certificate_pem: bytes) -> list[str]:
    """The paths of `files` (`mounted_files`' answer) that hold the private key of
    `certificate_pem`."""
    return sorted(path for path, data in files.items() if holds_key_of(certificate_pem, data))
