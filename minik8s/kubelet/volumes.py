"""Pod volumes on the host: emptyDir and configMap directories under the kubelet's root dir,
hostPath as given. Each pod's directory is `<root>/<node>/pods/<uid>/volumes/<kind>/<name>`.

The pods directory and each pod's directory are 0750 and root's, so no other user of the host
can reach into a pod's volumes (a container running as root could leave a set-user-ID shell
there). An emptyDir is 0750 too, owned by the pod's `runAsUser` when all its containers run as
one, and with `fsGroup` group-owned by it, setgid and group-writable (02770), as Kubernetes sets
volume ownership. configMap volumes are written by the atomic writer, like secret volumes, and
get the fsGroup too. Removal unmounts what is mounted below the pod's directory first (tmpfs
volumes, pinned subPaths) and never deletes through a mount point.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

from minik8s.api.meta import Object
from minik8s.kubelet import atomicwriter, ownership, projected, secretvolumes, tmpfs
from minik8s.kubelet.configerror import ConfigError
from minik8s.kubelet.securitycontext import pod_context

logger = logging.getLogger(__name__)


def _configmap(target: Path, source: Object, configmap: Object | None) -> None:
    payload = projected.object_payload(
        "configmap",
        str(source.get("name") or ""),
        configmap,
        source.get("items"),
        int(source.get("defaultMode") or projected.DEFAULT_MODE),
        bool(source.get("optional")),
    )
    try:
        atomicwriter.write(target, payload)
    except (atomicwriter.PayloadError, OSError) as e:
        raise ConfigError(f"MountVolume.SetUp failed for volume {target.name!r}: {e}") from e


def _prepare(pod_dir: Path, pod: Object, configmaps: Mapping[str, Object]) -> dict[str, str]:
    ownership.ensure_private_dir(pod_dir.parent)
    ownership.ensure_private_dir(pod_dir)
    fs_group = pod_context(pod).get("fsGroup")
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
        elif volume.get("configMap"):
            source = volume["configMap"]
            target = pod_dir / "volumes" / "configmap" / name
            _configmap(target, source, configmaps.get(source.get("name") or ""))
            ownership.apply_fs_group(target, fs_group)
        elif secretvolumes.kind_of(volume):
            continue  # secret, projected, downwardAPI: secretvolumes.CredentialVolumes
        else:
            kinds = sorted(k for k in volume if k != "name")
            raise ConfigError(f"volume {name}: unsupported volume type {kinds}")
        paths[name] = str(target)
    return paths


async def prepare(pod_dir: Path, pod: Object, configmaps: Mapping[str, Object]) -> dict[str, str]:
    """Create the pod's volume directories; return volume name → host path."""
    return await asyncio.to_thread(_prepare, pod_dir, pod, configmaps)


def _remove(pod_dir: Path) -> None:
    tmpfs.unmount_all(pod_dir)
    left = tmpfs.mount_points(pod_dir)
    if left:  # deleting through a bind mount would delete what it shows (a hostPath…)
        logger.error("not removing %s: still mounted below it: %s", pod_dir, left)
        return
    shutil.rmtree(pod_dir, True)


async def remove(pod_dir: Path) -> None:
    await asyncio.to_thread(_remove, pod_dir)
