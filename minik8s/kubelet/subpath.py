"""`subPath` mounts that cannot leave their volume, as Kubernetes' kubelet does them.

A container can plant a symlink in a volume it writes (an emptyDir, a hostPath) and name it in
the `subPath` of its next container (or of a restart): bind-mounting `<volume>/<subPath>` by
name would follow it anywhere on the host. So the kubelet, root on the host:

1. resolves the path with every symlink followed and refuses one that ends outside the volume
   (`subpath "x" not within volume path "/…"`), creating missing directories on the way;
2. opens the resolved path one component at a time, each relative to the directory opened
   before it and with `O_NOFOLLOW`, so a symlink swapped in after step 1 makes it fail;
3. bind-mounts that open file descriptor (`/proc/self/fd/N`) onto a path of its own,
   `<pod dir>/volume-subpaths/<volume>/<container>/<mount index>`, and gives Docker that one;
   each start of the container does all this again (a restart may find a symlink planted).

Docker then mounts an inode the kubelet has pinned, whatever the container does to the
names meanwhile. The mounts go with the pod (`volumes.remove` unmounts everything under the pod
directory first, and never deletes through a mount).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import stat
from pathlib import Path

from minik8s.kubelet import tmpfs
from minik8s.kubelet.configerror import ConfigError

logger = logging.getLogger(__name__)

MS_BIND = 4096
MNT_DETACH = 2
SUBPATHS_DIR = "volume-subpaths"


def resolve_within(base: Path, sub_path: str) -> Path:
    """The real path of `base/sub_path`, symlinks followed; `ConfigError` when it leaves the
    volume or names something the kubelet must not touch."""
    if sub_path.startswith("/") or ".." in sub_path.split("/"):
        raise ConfigError(f"subpath {sub_path!r} must be a relative path without '..'")
    root = Path(os.path.realpath(base))
    target = Path(os.path.realpath(root / sub_path))
    if target != root and root not in target.parents:
        raise ConfigError(f'subpath "{target}" not within volume path "{root}"')
    return target


def open_beneath(root: Path, target: Path, create: bool) -> int:
    """An `O_PATH` descriptor of `target` (below `root`), every component opened with
    `O_NOFOLLOW` relative to its parent; missing directories are made when `create`."""
    relative = target.relative_to(root).parts
    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f'volume path "{root}": {e.strerror}') from e
    try:
        for i, part in enumerate(relative):
            last = i == len(relative) - 1
            flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if last else os.O_DIRECTORY)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                parent_mode = stat.S_IMODE(os.fstat(fd).st_mode)
                os.mkdir(part, parent_mode, dir_fd=fd)
                child = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            if stat.S_ISLNK(os.fstat(child).st_mode):  # O_PATH|O_NOFOLLOW opens the link itself
                os.close(child)
                raise ConfigError(f'subpath "{target}": {part!r} became a symlink')
            os.close(fd)
            fd = child
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ConfigError(f'subpath "{target}" is not within its volume any more') from e
        raise ConfigError(f'subpath "{target}": {e.strerror}') from e
    except ConfigError:
        os.close(fd)
        raise
    return fd


def bind_fd(fd: int, mount_point: Path) -> None:
    """Bind-mount what `fd` refers to onto `mount_point` (made as an empty file or directory of
    the same kind)."""
    is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    mount_point.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    if is_dir:
        mount_point.mkdir(exist_ok=True, mode=0o750)
    elif not mount_point.exists():
        mount_point.touch(mode=0o640)
    libc = ctypes.CDLL(None, use_errno=True)
    source = f"/proc/self/fd/{fd}".encode()
    if libc.mount(source, str(mount_point).encode(), None, MS_BIND, None) != 0:
        code = ctypes.get_errno()
        raise ConfigError(f"bind-mounting subpath at {mount_point}: {os.strerror(code)}")


def unmount(mount_point: Path) -> None:
    """Detach an earlier pin (a container that used it is gone)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(str(mount_point).encode(), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        raise ConfigError(f"unmounting the old subpath at {mount_point}: {os.strerror(code)}")


def prepare(
    pod_dir: Path, volume: str, container: str, mount_index: int, base: Path, sub_path: str,
    pin: bool = True,
) -> str:  # fmt: skip
    """The host path to give Docker for `base/sub_path`: a bind mount of the safely opened
    target under the pod's directory (reused while it stays mounted), or with `pin` False (the
    hollow runtime mounts nothing) the checked path itself."""
    target = resolve_within(base, sub_path)
    root = Path(os.path.realpath(base))
    if not pin:
        return str(target)
    mount_point = pod_dir / SUBPATHS_DIR / volume / container / str(mount_index)
    if tmpfs.is_mounted(mount_point):  # a restart: pin what the path names now, checked anew
        unmount(mount_point)
    fd = open_beneath(root, target, create=True)
    try:
        bind_fd(fd, mount_point)
    finally:
        os.close(fd)
    logger.debug("subpath %s of %s pinned at %s", sub_path, base, mount_point)
    return str(mount_point)
