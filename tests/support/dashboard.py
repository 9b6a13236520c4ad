"""A real `minik8s-dashboard` process for tests, on a free loopback port."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Process, free_port
from tests.support.waiting import wait_for

STATIC = Path(__file__).resolve().parents[2] / "minik8s" / "dashboard" / "static"


def require_frontend() -> None:
    """Skip when `make dashboard` could not build the frontend (it says why: npm's registry
    unreachable with an empty cache; any other build failure fails `make`)."""
    if not (STATIC / "index.html").is_file():
        pytest.skip("the dashboard's frontend is not built (make dashboard)")


@dataclass
class DashboardProcess:
    kubeconfig: Path
    work: Path
    audit_token: str | None = None
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grant_dir(self) -> Path:
        return self.work / "grants"

    def start(self) -> None:
        require_frontend()
        args = [
            sys.executable, "-m", "minik8s.dashboard.server",
            f"--kubeconfig={self.kubeconfig}", f"--port={self.port}",
            f"--grant-dir={self.grant_dir}", "--v=debug",
        ]  # fmt: skip
        self.work.mkdir(parents=True, exist_ok=True)
        if self.audit_token:
            token_file = self.work / "audit.token"
            token_file.write_text(self.audit_token)
            token_file.chmod(0o600)
            args.append(f"--audit-webhook-token-file={token_file}")
        self.work.mkdir(parents=True, exist_ok=True)
        self.process = Process("dashboard", args, self.work / "dashboard.log")
        self.process.start()
        wait_for(self._ready, f"the dashboard on {self.url} to answer /healthz", timeout=30)

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"the dashboard exited:\n{self.process.log_tail()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process:
            self.process.stop()
