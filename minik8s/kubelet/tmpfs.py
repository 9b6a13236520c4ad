"""Memory-backed volume directories: secret and projected volumes live on tmpfs, as in
Kubernetes, so credentials never touch the node's disk. Unmounted before a pod's directory is
removed (a mount point cannot be)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")


class MountError(RuntimeError):
    pass


def mount_points(under: Path) -> list[Path]:
    """Mount points at or below `under`, deepest first."""
    prefix = str(under.resolve() if under.exists() else under)
    found = []
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = _unescape(fields[4])
            if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def is_mounted(path: Path) -> bool:
    return path.resolve() in mount_points(path) if path.exists() else False


def ensure(path: Path, size: str | None = None) -> None:
    """A tmpfs at `path` (created if needed); nothing when one is mounted there already."""
    path.mkdir(parents=True, exist_ok=True)
    if is_mounted(path):
        return
    options = "mode=0755" + (f",size={size}" if size else "")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    if result.returncode != 0:
        raise MountError(f"mount tmpfs at {path}: {result.stderr.strip() or result.returncode}")


def unmount_all(under: Path) -> None:
    """Unmount every mount at or below `under` (errors logged: removal goes on)."""
    for point in mount_points(under):
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            logger.warning("umount %s: %s", point, result.stderr.strip())


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal `\\040`…"""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 0 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def supported() -> bool:
    """Mounting needs root (CAP_SYS_ADMIN)."""
    return os.geteuid() == 0
