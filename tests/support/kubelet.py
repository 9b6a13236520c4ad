"""A real kubelet process for e2e tests, and cleanup of the Docker containers it created."""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.api import meta
from tests.support.processes import Process, free_port
from tests.support.waiting import wait_for

DOCKER = "/usr/bin/docker"


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def docker_available() -> bool:
    try:
        return subprocess.run([DOCKER, "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def containers(node: str, *labels: str, all_: bool = True) -> list[str]:
    """Ids of the node's containers (optionally with more `key=value` labels)."""
    args = ["ps", "-q", "--no-trunc", "--filter", f"label=minik8s.node={node}"]
    for label in labels:
        args += ["--filter", f"label={label}"]
    if all_:
        args.append("-a")
    return docker(*args).split()


def remove_containers(node: str) -> None:
    """Remove exactly the containers labelled for `node`."""
    ids = containers(node)
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)


def unique_node(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Kubelet:
    kubeconfig: Path
    work_dir: Path
    node_name: str = field(default_factory=unique_node)
    runtime: str = "docker"
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: Process | None = None

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "minik8s.kubelet.server",
            "--node-name",
            self.node_name,
            "--kubeconfig",
            str(self.kubeconfig),
            "--runtime",
            self.runtime,
            "--port",
            str(self.port),
            "--root-dir",
            str(self.work_dir / "root"),
            "--node-status-update-frequency",
            "2",
            # as `minik8s up`: no registry here (a test may pass --…=false after this)
            "--image-pull-fallback-to-local=true",
            "--lock-file",
            str(self.work_dir / "kubelet.lock"),
            *self.extra_args,
        ]
        self.process = Process(f"kubelet-{self.node_name}", args, self.work_dir / "kubelet.log")
        self.process.start()

    def wait_ready(self, api: object) -> None:
        from tests.support.api import Api

        assert isinstance(api, Api) and self.process is not None
        process = self.process

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"kubelet exited:\n{process.log_tail()}")
            r = api.get(f"/api/v1/nodes/{self.node_name}")
            if r.status_code != 200:
                return False
            return meta.condition_is_true(r.json(), "Ready")

        wait_for(ready, f"node {self.node_name} to be Ready", timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines) if self.process else ""
