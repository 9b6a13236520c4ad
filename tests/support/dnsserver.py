"""The cluster DNS as a real process for tests and benchmarks, on free loopback ports."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import httpx

from tests.support.dnsstub import free_udp_tcp_port
from tests.support.processes import Process, free_port
from tests.support.waiting import wait_for


@dataclass
class DnsProcess:
    kubeconfig: Path
    work_dir: Path
    upstream: str = "none"
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_udp_tcp_port)
    health_port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: Process | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def start(self, wait_ready: bool = True) -> DnsProcess:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable, "-m", "minik8s.dns.server", f"--kubeconfig={self.kubeconfig}",
            f"--dns-bind-address={self.host}", f"--dns-port={self.port}",
            f"--healthz-port={self.health_port}", f"--upstream={self.upstream}",
            *self.extra_args,
        ]  # fmt: skip
        self.process = Process("dns", args, self.work_dir / "dns.log")
        self.process.start()
        if wait_ready:
            try:
                wait_for(self.ready, "the DNS to be ready (informers synced)", timeout=20)
            except BaseException:
                self.stop()
                raise
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"the DNS exited:\n{self.process.log_tail()}")
        try:
            return httpx.get(f"{self.health_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None

    def query(
        self, name: str, rdtype: str = "A", tcp: bool = False, **kwargs: object
    ) -> dns.message.Message:
        message = dns.message.make_query(name, rdtype, **kwargs)  # type: ignore[arg-type]
        if tcp:
            return dns.query.tcp(message, self.host, timeout=3, port=self.port)
        return dns.query.udp(message, self.host, timeout=3, port=self.port)
