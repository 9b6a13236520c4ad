"""Pod volumes on the host: emptyDir and configMap directories under the kubelet's root dir,
hostPath as given. Each pod's directory is `<root>/<node>/pods/<uid>/volumes/<kind>/<name>`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minik8s.kubelet import secretvolumes
from minik8s.kubelet.specs import ConfigError

logger = logging.getLogger(__name__)

Object = dict[str, Any]


def _write_configmap(target: Path, source: Object, configmap: Object | None) -> None:
    if configmap is None:
        if source.get("optional"):
            target.mkdir(parents=True, exist_ok=True)
            return
        raise ConfigError(f'configmap "{source.get("name")}" not found')
    data: dict[str, str] = dict(configmap.get("data") or {})
    items = source.get("items")
    files = {i["path"]: data[i["key"]] for i in items if i["key"] in data} if items else data
    mode = int(source.get("defaultMode") or 0o644)
    target.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.chmod(tmp, mode)
        tmp.replace(path)


def _prepare(pod_dir: Path, pod: Object, configmaps: Mapping[str, Object]) -> dict[str, str]:
    paths: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        if "emptyDir" in volume:
            target = pod_dir / "volumes" / "empty-dir" / name
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)
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
            _write_configmap(target, source, configmaps.get(source.get("name") or ""))
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


async def remove(pod_dir: Path) -> None:
    await asyncio.to_thread(shutil.rmtree, pod_dir, True)
