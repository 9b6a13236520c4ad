"""Real etcd and apiserver processes for tests and benchmarks, on free loopback ports."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from minik8s import pki
from minik8s.client.kubeconfig import kubeconfig_document
from tests.support.waiting import wait_for


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc (0.0 once it is gone)."""
    return _proc_mib(f"/proc/{pid}/status", "VmRSS:")


def pss_mib(pid: int) -> float:
    """Proportional memory of a process in MiB (0.0 once it is gone): its private pages plus
    its share of each page it shares. Summed over processes, RSS counts a shared library page
    once per process mapping it; PSS counts it once in all."""
    return _proc_mib(f"/proc/{pid}/smaps_rollup", "Pss:")


def _proc_mib(path: str, field: str) -> float:
    """The `<field> <n> kB` line of a /proc file, in MiB (0.0 when absent or unreadable)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STARTED: list[Process] = []
"""Every process tests started, so the session can check none was left running."""


def leaked_processes() -> list[str]:
    """Describe (and kill) processes tests started and did not stop."""
    leaked = []
    for process in STARTED:
        if process.alive():
            leaked.append(f"{process.name}: {' '.join(process.args)}")
            process.kill()
    STARTED.clear()
    return leaked


def lower_priority(increment: int) -> None:
    """Lower this process's CPU priority by `increment` (niceness). With the kernel's
    autogroups on (`/proc/sys/kernel/sched_autogroup_enabled`), every session is a group of its
    own and a niceness counts only inside it: the group's own niceness (`/proc/self/autogroup`)
    is what weighs against other sessions' processes, so it is lowered too."""
    os.nice(increment)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(increment))
    except OSError:  # no autogroups in this kernel
        pass


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    nice: int = 0
    """Added to the process's niceness, and its session's autogroup's, before it runs."""

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            preexec_fn=functools.partial(lower_priority, self.nice) if self.nice else None,
        )  # fmt: skip
        log.close()
        STARTED.append(self)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        code = self.popen.returncode
        self.popen = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Etcd:
    data_dir: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    process: Process | None = None
    name: str = "minik8s-test"
    initial_cluster: str | None = None
    """`name=peerURL,…` of every member (a cluster of several); None: this member alone."""

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self) -> None:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process(
            "etcd",
            [
                etcd,
                "--name",
                self.name,
                "--data-dir",
                str(self.data_dir / "data"),
                "--listen-client-urls",
                self.url,
                "--advertise-client-urls",
                self.url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-cluster",
                self.initial_cluster or f"{self.name}={self.peer_url}",
                "--log-level",
                "warn",
                "--snapshot-count=10000",  # etcd 3.6's default, as the launcher runs it
            ],
            self.data_dir / "etcd.log",
            env={
                **os.environ,
                "ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", ""),
            },
        )
        self.process.start()
        if self.initial_cluster is None:  # a member of several answers once a quorum is up
            self.wait_healthy()

    def wait_healthy(self) -> None:
        try:
            wait_for(self._healthy, f"etcd on {self.url} to answer /health", timeout=60)
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"etcd exited:\n{self.process.log_tail()}")
        return httpx.get(f"{self.url}/health", timeout=1).status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process:
            self.process.stop(sig)


@dataclass
class Apiserver:
    etcd_url: str
    work_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    token: str | None = None
    process: Process | None = None
    bind_address: str = "127.0.0.1"
    """Where it listens (an address of a bridge the test made, for clients in a namespace)."""
    extra_tokens: dict[str, str] = field(default_factory=dict)
    """More token-file users: token -> user name (no groups)."""

    tls: bool | None = None
    """Serve HTTPS (default: whenever a token is set, since kubectl sends tokens only over TLS)."""

    @property
    def uses_tls(self) -> bool:
        return bool(self.token) if self.tls is None else self.tls

    @property
    def url(self) -> str:
        scheme = "https" if self.uses_tls else "http"
        return f"{scheme}://{self.bind_address}:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        return self.work_dir / "pki" / "ca.crt" if self.uses_tls else None

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else False

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "minik8s.apiserver.server",
            "--etcd-servers",
            self.etcd_url,
            "--bind-address",
            self.bind_address,
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.token:
            tokens = self.work_dir / "tokens.csv"
            lines = [f'{self.token},admin,admin-uid,"system:masters"']
            lines += [f"{token},{user},{user}-uid" for token, user in self.extra_tokens.items()]
            tokens.write_text("\n".join(lines) + "\n")
            args += ["--token-auth-file", str(tokens)]
        if self.uses_tls:
            certs = pki.ensure_serving_certificate(self.work_dir / "pki")
            args += ["--tls-cert-file", str(certs.cert), "--tls-private-key-file", str(certs.key)]
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.process = Process("apiserver", args, self.work_dir / "apiserver.log")
        self.process.start()
        try:
            wait_for(self._ready, f"apiserver on {self.url} to answer /readyz", timeout=60)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"apiserver exited:\n{self.process.log_tail()}")
        return httpx.get(f"{self.url}/readyz", timeout=1, verify=self.verify).status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process:
            self.process.stop(sig)

    def write_kubeconfig(self, path: Path) -> Path:
        credentials = {"token": self.token} if self.token else {}
        ca_pem = self.ca_file.read_bytes() if self.ca_file else None
        document = kubeconfig_document(
            self.url, ca_pem, "admin", credentials, cluster_name="minik8s", context_name="minik8s"
        )
        path.write_text(yaml.safe_dump(document))
        return path


def etcd_cluster(work: Path, size: int = 3) -> list[Etcd]:
    """`size` etcd members forming one cluster on loopback (started, healthy)."""
    members = [Etcd(work / f"etcd-{i}", name=f"member-{i}") for i in range(size)]
    initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
    for member in members:
        member.initial_cluster = initial
        member.start()
    for member in members:
        member.wait_healthy()
    return members


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
