"""`persistentVolumeClaim` volumes: the kubelet follows each claim to its bound
PersistentVolume and mounts the volume's directory on this node (`hostPath` or `local`).

A claim not bound yet keeps the pod in ContainerCreating (a FailedMount Event says why) until
the binder or the provisioner is done. A `DirectoryOrCreate` volume (what the local-path
provisioner makes) is created here on first mount, world-writable like the provisioner's;
a `local` volume must exist. The rest of the pod's volumes are `volumes.prepare`'s: a
resolved claim is handed over as the hostPath it amounts to.
"""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES
from minik8s.client.api import ApiClient


class VolumeNotReady(Exception):
    """A claim cannot be mounted yet (missing, unbound, terminating, or its path absent)."""


async def resolve(client: ApiClient, pod: Object) -> dict[str, str]:
    """Volume name → the host directory of each of the pod's claims (none: no request)."""
    paths: dict[str, str] = {}
    namespace = meta.namespace_of(pod)
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("persistentVolumeClaim") or {}
        name = source.get("claimName")
        if not name:
            continue
        try:
            claim = await client.get(PERSISTENTVOLUMECLAIMS, name, namespace)
        except errors.NotFound as e:
            raise VolumeNotReady(f'persistentvolumeclaim "{name}" not found') from e
        if meta.is_deleting(claim):
            raise VolumeNotReady(f'persistentvolumeclaim "{name}" is being deleted')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name or (claim.get("status") or {}).get("phase") != "Bound":
            raise VolumeNotReady(f'persistentvolumeclaim "{name}" is not bound yet')
        try:
            pv = await client.get(PERSISTENTVOLUMES, volume_name)
        except errors.NotFound as e:
            raise VolumeNotReady(f'persistentvolume "{volume_name}" not found') from e
        paths[volume["name"]] = await asyncio.to_thread(_ensure_directory, pv)
    return paths


def _ensure_directory(pv: Object) -> str:
    spec = pv.get("spec") or {}
    host_path = spec.get("hostPath") or {}
    local = spec.get("local") or {}
    path = Path(host_path.get("path") or local.get("path") or "")
    if not str(path) or not path.is_absolute():
        raise VolumeNotReady(f'persistentvolume "{meta.name_of(pv)}": no hostPath or local path')
    if host_path.get("type") == "DirectoryOrCreate" and not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)
    if not path.is_dir():
        raise VolumeNotReady(f'persistentvolume "{meta.name_of(pv)}": path "{path}" does not exist')
    return str(path)


def as_host_paths(pod: Object, paths: dict[str, str]) -> Object:
    """The pod with each resolved claim volume turned into the hostPath it is mounted from
    (read-only claims make their mounts read-only); the pod itself when it has none."""
    if not paths:
        return pod
    result = copy.deepcopy(pod)
    read_only = set()
    for volume in result["spec"]["volumes"]:
        if volume.get("name") in paths:
            source = volume.pop("persistentVolumeClaim")
            if source.get("readOnly"):
                read_only.add(volume["name"])
            volume["hostPath"] = {"path": paths[volume["name"]], "type": "Directory"}
    for container in result["spec"].get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") in read_only:
                mount["readOnly"] = True
    return result
