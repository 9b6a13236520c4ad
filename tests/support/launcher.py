"""Running the real `minik8s` launcher from tests, on free ports and a home of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.processes import free_port

LAUNCHER = [sys.executable, "-m", "minik8s.cli.launcher.app"]
COMMAND_TIMEOUT = 90.0
"""Deadline of one launcher command (`up` waits for etcd and the apiserver itself)."""


def alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie (nobody may reap the launcher's orphans here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@dataclass
class Launcher:
    """Runs `minik8s` with one home directory and remembers every pid it saw."""

    home: Path
    env: dict[str, str]
    seen: dict[int, str] = field(default_factory=dict)

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*LAUNCHER, *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        self.pids()  # remember whatever it started, for the leak check
        return result

    def up(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run("up", *args)
        assert result.returncode == 0, f"minik8s up failed:\n{result.stdout}\n{result.stderr}"
        return result

    def pids(self) -> dict[str, int]:
        """Component name -> pid, from the pid files."""
        found = {p.stem: int(p.read_text()) for p in (self.home / "run").glob("*.pid")}
        self.seen.update({pid: name for name, pid in found.items()})
        return found

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl is not installed")
        return subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def strays(self) -> dict[int, str]:
        """Every process whose command line names the home (as `pgrep -f <home>/`)."""
        marker = f"{self.home}{os.sep}"
        found = {}
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and alive(int(proc.name)):
                try:
                    argv = (proc / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if marker in argv:
                    found[int(proc.name)] = argv.replace("\0", " ")[:120]
        return found

    def teardown(self) -> None:
        """`down`, then kill and report whatever still runs (what a pid file named, or any
        process naming the home), containers included."""
        uid = self.cluster_uid()
        down = self.run("down")
        leaked = {pid: name for pid, name in self.seen.items() if alive(pid)}
        leaked.update(self.strays())
        for pid in leaked:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
        containers = self.containers(uid) if uid else []
        if containers:
            subprocess.run(["docker", "rm", "-f", *containers], capture_output=True, check=False)
        assert down.returncode == 0, f"minik8s down failed:\n{down.stdout}\n{down.stderr}"
        assert not leaked, f"processes left running after `minik8s down`: {leaked}"
        assert not containers, f"pod containers left after `minik8s down`: {containers}"

    def cluster_uid(self) -> str | None:
        """The uid of kube-system, which labels every pod container of this cluster."""
        if shutil.which("kubectl") is None or not self.kubeconfig.exists():
            return None
        result = self.kubectl("get", "ns", "kube-system", "-o", "jsonpath={.metadata.uid}")
        return result.stdout.strip() or None

    @staticmethod
    def containers(uid: str) -> list[str]:
        if shutil.which("docker") is None:
            return []
        listed = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=minik8s.cluster={uid}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return listed.stdout.split()


def make_launcher(home: Path) -> Launcher:
    etcd_port, peer_port, apiserver_port, dashboard_port = distinct_free_ports(4)
    env = {
        **os.environ,
        "MINIK8S_HOME": str(home),
        "MINIK8S_ETCD_PORT": str(etcd_port),
        "MINIK8S_ETCD_PEER_PORT": str(peer_port),
        "MINIK8S_APISERVER_PORT": str(apiserver_port),
        # a test cluster's DNS never asks a real resolver: names outside the cluster fail
        "MINIK8S_DNS_UPSTREAM": "none",
        "MINIK8S_DASHBOARD_PORT": str(dashboard_port),
        "COLUMNS": "200",
    }
    env.pop("KUBECONFIG", None)
    return Launcher(home, env)


@contextmanager
def launched(home: Path, *up_args: str) -> Iterator[Launcher]:
    """A `minik8s up <up_args>` cluster of its own (its own home and ports), torn down after:
    the body of a module-scoped cluster fixture."""
    launcher = make_launcher(home)
    try:
        launcher.up(*up_args)
        yield launcher
    finally:
        launcher.teardown()
