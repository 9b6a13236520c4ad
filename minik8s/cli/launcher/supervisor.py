"""`minik8s supervise`: restarts the components `minik8s up` started when they die.

What kubeadm clusters get from systemd (`Restart=always` for the kubelet) and the kubelet
(static pods restarted with CrashLoopBackOff): one process per home, started by `up` (its pid
file `run/supervise.pid`, its log `logs/supervise.log`), stopped first by `down`. It restarts
exactly what `up` started, with the same command lines: `up` writes them to
`run/supervised.json` (`write_spec`), the supervisor reads them back each round. Delays follow
the kubelet's back-off (`restart_plan`). Each restart is logged, with how the process ended, to
the supervisor's log and to the component's; `run/restarts.json` feeds the RESTARTS column of
`minik8s status`.

`up`, `down` and every restart take `run/start.lock` (`start_lock`), so `up` never races the
supervisor: while `up` starts things the supervisor waits its turn.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from minik8s.api import times
from minik8s.cli.launcher import processes, restart_plan
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.instance import Instance
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.componentbase import hostlock

NAME = "supervise"
"""Its pid and log files' name."""

INTERVAL = 1.0
"""Seconds between two checks of every supervised component."""

DISABLE_ENV = "MINIK8S_SUPERVISE"
"""`MINIK8S_SUPERVISE=false`: `up` starts no supervisor (as `up --no-supervise`)."""


def spec_file(settings: LauncherSettings) -> Path:
    return settings.run_dir / "supervised.json"


def restarts_file(settings: LauncherSettings) -> Path:
    return settings.run_dir / "restarts.json"


@contextlib.contextmanager
def start_lock(settings: LauncherSettings, blocking: bool = True) -> Iterator[bool]:
    """Hold the home's start lock (an `fcntl.flock` on `run/start.lock`) while starting or
    stopping components; yields False when `blocking` is False and someone else holds it.
    A home without a run directory has nothing to start or stop: nothing to lock."""
    if not settings.run_dir.is_dir():
        yield True
        return
    fd = os.open(settings.run_dir / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def instance(settings: LauncherSettings) -> Instance:
    """The supervisor's own process (this module's `main`, as `minik8s supervise` but without
    the launcher's imports: ~20 MB of RSS instead of ~64); its `--home` ends with a separator,
    as the marker of our processes (`processes.find`) wants the home followed by one."""
    argv = [sys.executable, "-m", __name__, f"--home={settings.home}{os.sep}"]
    return Instance(NAME, argv, None, settings.component_ready_timeout)


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


def write_spec(settings: LauncherSettings, planned: list[Instance]) -> None:
    """What the supervisor keeps running: `up`'s processes and their command lines."""
    _write_json(spec_file(settings), [{"name": i.name, "argv": i.argv} for i in planned])


def read_spec(settings: LauncherSettings) -> list[Instance]:
    try:
        raw = json.loads(spec_file(settings).read_text())
    except (OSError, ValueError):
        return []
    return [
        Instance(str(item["name"]), [str(a) for a in item["argv"]], None, 0.0)
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("argv"), list)
    ]


@dataclass
class Restarts:
    """What `minik8s status` shows of one component's restarts."""

    count: int = 0
    last_restart: float | None = None
    """Wall-clock time of the last restart."""
    last_exit: str = ""
    """How it ended before that restart."""
    backoff_until: float | None = None
    """Wall-clock time of the next restart while it waits in back-off."""


def load_restarts(settings: LauncherSettings) -> dict[str, Restarts]:
    try:
        raw = json.loads(restarts_file(settings).read_text())
        return {str(name): Restarts(**fields) for name, fields in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


class Supervisor:
    """One home's supervisor: every `interval`, any supervised component that does not run is
    restarted (at once the first time, then after its back-off)."""

    def __init__(
        self,
        settings: LauncherSettings,
        backoff: restart_plan.Backoff,
        interval: float,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.backoff = backoff
        self.interval = interval
        self.log = log
        self.clock = clock
        self.stopping = threading.Event()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        """Processes it started itself: their exit status is known."""
        self.pending: dict[str, tuple[float, str]] = {}
        """Dead components: when to restart them, and how they ended."""
        self.restarts = load_restarts(settings)

    def run(self) -> None:
        self.log(
            f"supervising the components of {self.settings.home} (restart back-off "
            f"{self.backoff.initial:g}s doubling to {self.backoff.maximum:g}s, as the kubelet's "
            "CrashLoopBackOff)"
        )
        while not self.stopping.is_set():
            self.round()
            self.stopping.wait(self.interval)
        self.log("stopping (the components keep running)")

    def round(self) -> None:
        """Check every supervised component once (skipped while `up` or `down` holds the
        start lock)."""
        self._reap()
        with start_lock(self.settings, blocking=False) as locked:
            if not locked:
                return
            supervised = read_spec(self.settings)
            for wanted in supervised:
                if self.stopping.is_set():
                    return
                self._check(wanted)
            names = {i.name for i in supervised}
            for gone in set(self.pending) - names:
                del self.pending[gone]

    def _reap(self) -> None:
        for child in self.children.values():
            child.poll()  # no zombies: a dead child is reaped and its status kept

    def _check(self, wanted: Instance) -> None:
        name = wanted.name
        child = self.children.get(name)
        running = processes.find(self.settings, name)
        if running is not None:
            if child is not None and child.pid != running.pid:
                del self.children[name]  # `up` started another one
            if self.pending.pop(name, None) is not None:
                self._record(name, backoff_until=None)
            return
        now = self.clock()
        if name not in self.pending:
            returncode = None
            if child is not None:
                # its status tells how this component ended only if `up` did not replace its
                # command line meanwhile (then `up` stopped it, and started one that failed)
                if child.args == wanted.argv:
                    returncode = child.poll()
                del self.children[name]
            how = restart_plan.describe_exit(returncode)
            at = self.backoff.restart_at(name, now)
            self.pending[name] = (at, how)
            if at > now:
                self.log(f"{name} {how}; back-off {at - now:g}s before restarting it")
                self._record(name, last_exit=how, backoff_until=time.time() + (at - now))
        at, how = self.pending[name]
        if now < at:
            return
        del self.pending[name]
        self._restart(wanted, how)

    def _restart(self, wanted: Instance, how: str) -> None:
        name = wanted.name
        count = self.restarts.get(name, Restarts()).count + 1
        message = f"{name} {how}; restarting it (restart {count})"
        self.log(message)
        try:
            with open(self.settings.log_file(name), "a") as log:
                log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} minik8s {NAME}: {message}\n")
            self.children[name] = processes.start(self.settings, wanted, by=f"minik8s {NAME}")
        except (OSError, LauncherError) as e:
            self.log(f"cannot restart {name}: {e}")
            at = self.backoff.restart_at(name, self.clock())
            self.pending[name] = (at, f"could not be started ({e})")
        self._record(name, count=count, last_restart=time.time(), last_exit=how,
                     backoff_until=None)  # fmt: skip

    def _record(self, name: str, **fields: object) -> None:
        entry = self.restarts.setdefault(name, Restarts())
        for key, value in fields.items():
            setattr(entry, key, value)
        _write_json(restarts_file(self.settings), {n: asdict(r) for n, r in self.restarts.items()})


@contextlib.contextmanager
def _only_one(settings: LauncherSettings) -> Iterator[None]:
    """Hold `run/supervise.lock` for the supervisor's lifetime: one supervisor per home."""
    lock = settings.run_dir / "supervise.lock"
    held = hostlock.try_lock(lock)
    if held is None:
        other = processes.read_pid(lock)
        raise LauncherError(f"a supervisor already runs for {settings.home} (pid {other or '?'})")
    with held:
        yield


def serve(settings: LauncherSettings, backoff: restart_plan.Backoff, interval: float) -> None:
    """Run the supervisor in the foreground until SIGTERM or SIGINT."""

    def log(line: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", flush=True)

    with _only_one(settings):
        pid_file = settings.pid_file(NAME)
        pid_file.write_text(f"{os.getpid()}\n")
        supervisor = Supervisor(settings, backoff, interval, log)

        def stop(signum: int, frame: FrameType | None) -> None:
            supervisor.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            supervisor.run()
        finally:
            if processes.read_pid(pid_file) == os.getpid():
                pid_file.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m minik8s.cli.launcher.supervisor`: what `up` runs (`minik8s supervise` runs
    `serve` the same way, with the launcher's own command line)."""
    parser = argparse.ArgumentParser(prog=f"minik8s {NAME}", description=main.__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument(
        "--backoff", type=times.parse_duration, default=restart_plan.INITIAL_BACKOFF
    )
    parser.add_argument(
        "--max-backoff", type=times.parse_duration, default=restart_plan.MAX_BACKOFF
    )
    parser.add_argument("--interval", type=times.parse_duration, default=INTERVAL)
    args = parser.parse_args(argv)
    settings = LauncherSettings(home=args.home.expanduser().resolve())
    try:
        serve(settings, restart_plan.Backoff(args.backoff, args.max_backoff), args.interval)
    except LauncherError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
