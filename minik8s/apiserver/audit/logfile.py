"""The audit log file with size-based rotation, named and pruned as Kubernetes' lumberjack does.

kube-apiserver writes `--audit-log-path` through lumberjack: once the file would grow past
`--audit-log-maxsize` megabytes (0: 100), it is renamed `<name>-<UTC time><ext>`
(`audit-2024-05-01T10-00-00.000.log`) and a new one is opened with the same mode; then
backups beyond `--audit-log-maxbackup` (0: all kept) and older than `--audit-log-maxage` days
(0: any age), judged by the time in their names, are removed. The file is created 0600 in a
directory made 0700, as `AuditLogOptions.ensureLogFile` does.

Only the log backend's writer thread calls `write`; nothing here runs on the event loop.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

MEGABYTE = 1024 * 1024
DEFAULT_MAX_SIZE_MB = 100
BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
"""lumberjack's `2006-01-02T15-04-05.000` without the milliseconds (added by hand)."""
BACKUP_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})$")


class RotatingFile:
    def __init__(
        self, path: str | Path, max_size_mb: int = 0, max_backups: int = 0, max_age_days: int = 0
    ) -> None:
        """Open (create 0600) the file now, so a path that cannot be written fails at start."""
        self.path = Path(path)
        self.max_bytes = (max_size_mb or DEFAULT_MAX_SIZE_MB) * MEGABYTE
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = self._open()
        self.size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def write(self, data: bytes) -> None:
        if self.size and self.size + len(data) > self.max_bytes:
            self.rotate()
        _write_all(self._fd, data)
        self.size += len(data)

    def write_lines(self, lines: list[bytes]) -> None:
        """Write whole lines, as few `write` calls as the size limit allows: the file rotates
        between two lines, never inside one."""
        pending: list[bytes] = []
        size = self.size
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                if pending:
                    self.write(b"".join(pending))
                    pending = []
                self.rotate()
                size = 0
            pending.append(line)
            size += len(line)
        if pending:
            self.write(b"".join(pending))

    def rotate(self, now: float | None = None) -> Path:
        """Move the current file aside, open a new one, prune old backups; the backup's path."""
        mode = os.fstat(self._fd).st_mode & 0o777
        os.close(self._fd)
        moment = now or time.time()
        backup = self.path.with_name(backup_name(self.path.name, moment))
        while backup.exists():  # two rotations within a millisecond: the next free name
            moment += 0.001
            backup = self.path.with_name(backup_name(self.path.name, moment))
        os.replace(self.path, backup)
        self._fd = self._open()
        os.fchmod(self._fd, mode)
        self.size = 0
        self.prune(now)
        return backup

    def backups(self) -> list[tuple[datetime, Path]]:
        """(time in the name, path) of every backup of this file, newest first."""
        stem, ext = _split(self.path.name)
        found = []
        for candidate in self.path.parent.iterdir():
            name = candidate.name
            if not (name.startswith(stem + "-") and name.endswith(ext)):
                continue
            moment = _backup_time(name[len(stem) + 1 : len(name) - len(ext)])
            if moment is not None:
                found.append((moment, candidate))
        return sorted(found, reverse=True)

    def prune(self, now: float | None = None) -> None:
        backups = self.backups()
        doomed = backups[self.max_backups :] if self.max_backups else []
        if self.max_age_days:
            cutoff = datetime.fromtimestamp(now or time.time(), UTC) - timedelta(
                days=self.max_age_days
            )
            doomed += [b for b in backups if b[0] < cutoff and b not in doomed]
        for _, path in doomed:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)


class StdoutFile:
    """`--audit-log-path=-`: events go to the apiserver's standard output."""

    path = Path("-")

    def write_lines(self, lines: list[bytes]) -> None:
        _write_all(sys.stdout.fileno(), b"".join(lines))

    def close(self) -> None:
        pass


def backup_name(name: str, seconds: float) -> str:
    """`audit.log` rotated at `seconds` -> `audit-2024-05-01T10-00-00.000.log` (UTC)."""
    stem, ext = _split(name)
    moment = datetime.fromtimestamp(seconds, UTC)
    millis = moment.microsecond // 1000
    return f"{stem}-{moment.strftime(BACKUP_TIME_FORMAT)}.{millis:03d}{ext}"


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def _backup_time(text: str) -> datetime | None:
    match = BACKUP_TIME.match(text)
    if match is None:
        return None
    try:
        moment = datetime.strptime(match.group(1), BACKUP_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment + timedelta(milliseconds=int(match.group(2)))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
