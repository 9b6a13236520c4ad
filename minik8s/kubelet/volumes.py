"""Pod volumes on the host: emptyDir directories under the kubelet's root dir, hostPath as
given (configMap, secret, projected and downwardAPI volumes: `secretvolumes`). Each pod's
directory is `<root>/<node>/pods/<uid>/volumes/<kind>/<name>`.

The pods directory and each pod's directory are 0750 and root's, so no other user of the host
can reach into a pod's volumes (a container running as root could leave a set-user-ID shell
there). An emptyDir is 0750 too, owned by the pod's `runAsUser` when all its containers run as
one, and with `fsGroup` group-owned by it, setgid and group-writable (02770), as Kubernetes sets
volume ownership. Removal unmounts what is mounted below the pod's directory first (tmpfs
volumes, pinned subPaths) and never deletes through a mount point.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from minik8s.api.meta import Object
from minik8s.kubelet import ownership, secretvolumes, tmpfs
from minik8s.kubelet.configerror import ConfigError

logger = logging.getLogger(__name__)


def _prepare(pod_dir: Path, pod: Object) -> dict[str, str]:
    ownership.ensure_private_dir(pod_dir.parent)
    ownership.ensure_private_dir(pod_dir)
    paths: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        if "emptyDir" in volume:
            target = pod_dir / "volumes" / "empty-dir" / name
            ownership.empty_dir(target, pod)
        elif volume.get("hostPath"):
            source = volume["hostPath"]
            target = Path(source["path"])
            if source.get("type") == "DirectoryOrCreate":
                target.mkdir(parents=True, exist_ok=True)
            elif source.get("type") == "Directory" and not target.is_dir():
                raise ConfigError(f"hostPath {target} is not a directory")
        elif secretvolumes.kind_of(volume):
            continue  # secret, configMap, projected, downwardAPI: secretvolumes.ApiVolumes
        else:
            kinds = sorted(k for k in volume if k != "name")
            raise ConfigError(f"volume {name}: unsupported volume type {kinds}")
        paths[name] = str(target)
    return paths


async def prepare(pod_dir: Path, pod: Object) -> dict[str, str]:
    """Create the pod's emptyDir volumes, check its hostPath ones; volume name → host path
    (the volumes written from API objects: `secretvolumes`). A few mkdir/chmod/stat calls,
    done inline as Kubernetes' pod worker does them: tens of µs, where a hop to a worker
    thread cost 100-200 µs of CPU per pod."""
    return _prepare(pod_dir, pod)


def _remove(pod_dir: Path) -> None:
    tmpfs.unmount_all(pod_dir)
    left = tmpfs.mount_points(pod_dir)
    if left:  # deleting through a bind mount would delete what it shows (a hostPath…)
        logger.error("not removing %s: still mounted below it: %s", pod_dir, left)
        return
    shutil.rmtree(pod_dir, True)


async def remove(pod_dir: Path) -> None:
    await asyncio.to_thread(_remove, pod_dir)
