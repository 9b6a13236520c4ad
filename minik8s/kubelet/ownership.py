"""Who owns the volumes the kubelet makes, and with which modes (as Kubernetes' volume
ownership): private pod directories, emptyDirs for the pod's user, fsGroup group ownership."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from minik8s.api.meta import Object
from minik8s.kubelet.securitycontext import effective, pod_context

DIR_MODE = 0o750
"""Pods directory, pod directory, emptyDir: no access for other users of the host."""
FS_GROUP_DIR_MODE = 0o2770
"""An emptyDir with fsGroup: the group may write, new files inherit the group (setgid)."""


def volume_owner(pod: Object) -> tuple[int, int]:
    """(uid, gid) an emptyDir is created with: the runAsUser (and runAsGroup) every container
    runs as, else root; the fsGroup takes the group."""
    users = {effective(pod, c).get("runAsUser") for c in _containers(pod)}
    groups = {effective(pod, c).get("runAsGroup") for c in _containers(pod)}
    uid = next(iter(users)) if len(users) == 1 and None not in users else 0
    gid = next(iter(groups)) if len(groups) == 1 and None not in groups else 0
    fs_group = pod_context(pod).get("fsGroup")
    return int(uid or 0), int(fs_group if fs_group is not None else gid or 0)


def _containers(pod: Object) -> list[Object]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def ensure_private_dir(path: Path) -> None:
    """A directory of root's, 0750, whatever umask or an older kubelet left."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def empty_dir(target: Path, pod: Object) -> None:
    fresh = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    if not fresh:
        return  # a restart: the container may have changed it since, and owns its content
    uid, gid = volume_owner(pod)
    if os.geteuid() == 0:
        os.chown(target, uid, gid)
    has_fs_group = pod_context(pod).get("fsGroup") is not None
    os.chmod(target, FS_GROUP_DIR_MODE if has_fs_group else DIR_MODE)


def apply_fs_group(target: Path, fs_group: int | None) -> None:
    """Group-own a volume the kubelet wrote (configMap, secret, …) by the pod's fsGroup and let
    the group read it, as Kubernetes' SetVolumeOwnership does; symlinks are left alone."""
    if fs_group is None or os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                continue
            os.lchown(path, -1, fs_group)
            extra = 0o2050 if stat.S_ISDIR(info.st_mode) else 0o040
            os.chmod(path, stat.S_IMODE(info.st_mode) | extra)
    os.chown(target, -1, fs_group)
    os.chmod(target, stat.S_IMODE(os.stat(target).st_mode) | 0o2050)
