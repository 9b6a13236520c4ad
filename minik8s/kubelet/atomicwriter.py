"""Kubernetes' AtomicWriter: a volume's files change all at once, never half-written.

The payload lives in a timestamped directory `..2024_05_01_12_00_00.123456789`; the symlink
`..data` points at it, and each top-level entry the user sees (`token`, `ca.crt`, `dir/`) is a
symlink into `..data`. An update writes a new timestamped directory, then swaps `..data` with
one `rename(2)` (atomic), then removes the old directory and the links of entries that are
gone. A reader that opened `token` through the old link keeps reading the old file; the next
open sees the new one. An unchanged payload writes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


Payload = Mapping[str, FileProjection]
"""Relative path (`token`, `sub/dir/file`) → its content and mode."""


class PayloadError(ValueError):
    """A path that would escape the volume or collide with the writer's own entries."""


def validate(payload: Payload) -> None:
    for path in payload:
        parts = path.split("/")
        if not path or path.startswith("/") or ".." in parts or path.startswith(".."):
            raise PayloadError(f"invalid path {path!r}: must be relative without '..'")


def write(target: Path, payload: Payload) -> bool:
    """Make `target` hold exactly `payload`; True when something changed."""
    validate(payload)
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / DATA_DIR
    old_dir = _current(target)
    if old_dir is not None and _same(old_dir, payload):
        return False
    new_dir = Path(tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S."), dir=target))
    new_dir.chmod(0o755)
    for rel, projection in payload.items():
        path = new_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, projection.mode & 0o777)
        try:
            os.fchmod(fd, projection.mode & 0o777)
            os.write(fd, projection.data)
        finally:
            os.close(fd)
    tops = {rel.split("/", 1)[0] for rel in payload}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            if link.exists():
                raise PayloadError(f"{link} exists and is not one of the writer's links")
            link.symlink_to(f"{DATA_DIR}/{top}")
    tmp_link = target / DATA_DIR_TMP
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(new_dir.name)
    tmp_link.replace(data_link)  # the atomic switch
    if old_dir is not None:
        shutil.rmtree(old_dir, ignore_errors=True)
    for entry in target.iterdir():
        if entry.name.startswith("..") or entry.name in tops:
            continue
        if entry.is_symlink() and os.readlink(entry).startswith(f"{DATA_DIR}/"):
            entry.unlink()  # a file the new payload no longer has
    return True


def _current(target: Path) -> Path | None:
    """The payload directory `..data` points at: only ever a timestamped directory of
    `target` itself (a `..data` changed to lead elsewhere is never followed, let alone
    deleted)."""
    link = target / DATA_DIR
    if not link.is_symlink():
        return None
    name = os.readlink(link)
    if "/" in name or not name.startswith("..") or name in ("..", DATA_DIR, DATA_DIR_TMP):
        logger.warning("%s points at %r, not a payload directory: ignored", link, name)
        return None
    current = target / name
    return current if current.is_dir() and not current.is_symlink() else None


def _same(directory: Path, payload: Payload) -> bool:
    seen = 0
    for root, _, files in os.walk(directory):
        for name in files:
            path = Path(root) / name
            rel = str(path.relative_to(directory))
            wanted = payload.get(rel)
            if wanted is None:
                return False
            stat = path.stat()
            if stat.st_mode & 0o777 != wanted.mode & 0o777 or path.read_bytes() != wanted.data:
                return False
            seen += 1
    return seen == len(payload)
