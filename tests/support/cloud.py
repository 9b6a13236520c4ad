"""A real minik8s-cloud-controller-manager process for tests."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.processes import Process, free_port
from tests.support.waiting import wait_for


@dataclass
class CloudControllerManager:
    kubeconfig: Path
    log_path: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: Process | None = None

    def start(self, wait_ready: bool = True) -> None:
        argv = [sys.executable, "-m", "minik8s.cloudcontroller.server",
                f"--kubeconfig={self.kubeconfig}", f"--healthz-port={self.port}", "--v=debug",
                *self.args]  # fmt: skip
        self.process = Process("cloud-controller-manager", argv, self.log_path)
        self.process.start()
        if wait_ready:
            wait_for(self.ready, "the cloud controller manager's /readyz", 30, 0.1)

    def status(self, path: str) -> int:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"cloud controller manager exited:\n{self.process.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code
        except httpx.HTTPError:
            return 0

    def ready(self) -> bool:
        return self.status("/readyz") == 200

    def metric(self, name: str) -> float | None:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else None

    def stop(self) -> int | None:
        return self.process.stop() if self.process is not None else None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
