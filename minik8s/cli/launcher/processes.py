"""Background processes: pid files, start, health waits and stop, with deadlines.

A pid file names a process of ours only while that process is alive (not a zombie) and its
command line mentions the cluster's home directory; anything else is a stale pid file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.instance import Instance
from minik8s.cli.launcher.settings import LauncherSettings


@dataclass(frozen=True)
class Running:
    """A process of ours found through its pid file."""

    name: str
    pid: int
    argv: list[str]
    """Its command line as the kernel reports it."""


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str] | None:
    """The process's argv from /proc, or None when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def find(settings: LauncherSettings, name: str) -> Running | None:
    """The running process of `name`, or None; a stale pid file is removed."""
    path = settings.pid_file(name)
    pid = read_pid(path)
    if pid is None:
        if path.exists():
            path.unlink(missing_ok=True)
        return None
    argv = cmdline(pid) if pid_alive(pid) else None
    marker = f"{settings.home}{os.sep}"
    if argv is None or not any(marker in arg for arg in argv):
        path.unlink(missing_ok=True)
        return None
    return Running(name, pid, argv)


def recorded_names(settings: LauncherSettings) -> list[str]:
    """Names of every pid file in the run directory."""
    if not settings.run_dir.is_dir():
        return []
    return sorted(p.stem for p in settings.run_dir.glob("*.pid"))


def same_command(running: Running, instance: Instance) -> bool:
    """True if the process was started with the flags `up` would use now (binary aside)."""
    return running.argv[1:] == instance.argv[1:]


MALLOC_ENV = {"MALLOC_ARENA_MAX": "2"}
"""glibc malloc gives each thread that allocates its own arena (up to 8 per core) and keeps
what is freed in each: the components' thread pools (TLS, DNS lookups, executors) then hold
memory freed long ago. Two arenas; a value already in the environment wins."""


def start(
    settings: LauncherSettings, instance: Instance, by: str = "minik8s up"
) -> subprocess.Popen[bytes]:
    """Start `instance` in its own session, output appended to its log (after a line naming
    `by`, who starts it); write its pid file."""
    log_path = settings.log_file(instance.name)
    with open(log_path, "ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"=== {stamp} {by}: {' '.join(instance.argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                instance.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=settings.home,
                env={**MALLOC_ENV, **os.environ},
            )
        except OSError as e:
            raise LauncherError(f"cannot start {instance.name}: {e}") from e
    settings.pid_file(instance.name).write_text(f"{popen.pid}\n")
    return popen


def probe(
    url: str,
    timeout: float,
    ca_file: Path | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> bool:
    """True if GET `url` answers 200 now. A health probe, not an API request: the components'
    /healthz (some plain HTTP, none authenticated; etcd's wants `client_cert`), so one httpx
    GET, not an `ApiClient`."""
    import httpx  # here: the supervisor, which never probes, stays small without it

    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
        if client_cert is not None:
            verify.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    try:
        return httpx.get(url, timeout=timeout, verify=verify).status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def log_tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(settings: LauncherSettings, instance: Instance, alive: Callable[[], bool]) -> float:
    """Wait until `instance` answers its health URL (or just stays alive); return seconds taken.

    Raises LauncherError with the log's last lines when it dies or misses its deadline.
    """
    started = time.monotonic()
    deadline = started + instance.ready_timeout
    # A component without a health URL must at least survive its first second.
    settle = started + min(1.0, instance.ready_timeout)
    what = f"{instance.health_url} to answer 200" if instance.health_url else "it to stay up"
    log_path = settings.log_file(instance.name)
    while True:
        if not alive():
            raise LauncherError(
                f"{instance.name} exited while starting (log: {log_path}); last lines:",
                log_tail(log_path, settings.log_tail_lines),
            )
        now = time.monotonic()
        if instance.health_url is None:
            if now >= settle:
                return now - started
        elif probe(
            instance.health_url, settings.probe_timeout, instance.ca_file, instance.client_cert
        ):
            return time.monotonic() - started
        if now > deadline:
            raise LauncherError(
                f"{instance.name} not ready after {instance.ready_timeout:.0f}s waiting for "
                f"{what} (log: {log_path}); last lines:",
                log_tail(log_path, settings.log_tail_lines),
            )
        time.sleep(settings.poll_interval)


def _signal(pid: int, sig: int) -> None:
    """Signal the process's whole session group when it leads one (it does: we started it so)."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float, interval: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def stop(settings: LauncherSettings, running: Running) -> str:
    """SIGTERM, wait, SIGKILL if stuck; remove the pid file. Return how it ended."""
    how = "stopped"
    _signal(running.pid, signal.SIGTERM)
    if not _wait_gone(running.pid, settings.stop_timeout, settings.poll_interval):
        how = f"killed (still running {settings.stop_timeout:.0f}s after SIGTERM)"
        _signal(running.pid, signal.SIGKILL)
        if not _wait_gone(running.pid, settings.kill_timeout, settings.poll_interval):
            raise LauncherError(
                f"{running.name} (pid {running.pid}) survived SIGKILL for "
                f"{settings.kill_timeout:.0f}s"
            )
    settings.pid_file(running.name).unlink(missing_ok=True)
    return how


def stop_child(settings: LauncherSettings, name: str, popen: subprocess.Popen[bytes]) -> None:
    """Stop a process this launcher just started (and reap it); remove its pid file."""
    if popen.poll() is None:
        _signal(popen.pid, signal.SIGTERM)
        try:
            popen.wait(settings.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(settings.kill_timeout)
    settings.pid_file(name).unlink(missing_ok=True)


def run_cleanup(argv: list[str], settings: LauncherSettings) -> bool:
    """Run a component's cleanup command (output to its log); True if it succeeded."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.logs_dir / "cleanup.log", "ab") as log:
        try:
            done = subprocess.run(argv, stdout=log, stderr=log, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0
