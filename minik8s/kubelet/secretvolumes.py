"""The pod volumes the kubelet writes from API objects and pod facts: secret, configMap,
projected (service account tokens, Secrets, ConfigMaps, downward API) and downwardAPI.

Secret and projected volumes are tmpfs mounts, as in Kubernetes, so their content never
touches the node's disk; configMap and downwardAPI volumes are directories of the pod. Each
is written with the atomic writer, so an update (a changed Secret or ConfigMap, a renewed
token) swaps every file at once. `prepare` runs before the containers start and again on
each later sync of the pod, which is how they are updated in place. A missing object or key
that is not `optional` is a `MountError` (FailedMount; the containers wait).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from minik8s.api.meta import Object
from minik8s.kubelet import atomicwriter, downward, ownership, projected, securitycontext, tmpfs
from minik8s.kubelet.atomicwriter import Payload
from minik8s.kubelet.configerror import ConfigError, MountError
from minik8s.kubelet.objectcache import ObjectCache
from minik8s.kubelet.tokenmanager import TokenManager

logger = logging.getLogger(__name__)

KINDS = {
    "secret": "secret",
    "configMap": "configmap",
    "projected": "projected",
    "downwardAPI": "downward-api",
}
"""Volume source → its directory under `<pod dir>/volumes/`."""
IN_MEMORY = ("secret", "projected")


def kind_of(volume: Object) -> str | None:
    return next((k for k in KINDS if volume.get(k) is not None), None)


def has_volumes(pod: Object) -> bool:
    return any(kind_of(v) for v in (pod.get("spec") or {}).get("volumes") or [])


@dataclass(frozen=True)
class _Write:
    path: Path
    payload: Payload
    in_memory: bool
    fs_group: int | None = None


class ApiVolumes:
    def __init__(self, objects: ObjectCache, tokens: TokenManager, use_tmpfs: bool) -> None:
        self.objects = objects
        self.tokens = tokens
        self.use_tmpfs = use_tmpfs
        """False for the hollow (fake) runtime, which mounts nothing: plain directories."""

    async def prepare(
        self, pod: Object, pod_dir: Path, facts: downward.PodFacts | None = None
    ) -> dict[str, str]:
        """Write the pod's volumes of these kinds; volume name → host path. Raises
        `MountError` for a missing object or key that is not optional."""
        facts = facts or downward.PodFacts()
        volumes = [v for v in (pod.get("spec") or {}).get("volumes") or [] if kind_of(v)]
        if not volumes:
            return {}
        secrets = await self.objects.objects(pod, "secret")
        configmaps = await self.objects.objects(pod, "configMap")
        tokens = {}
        for token in projected.token_projections(pod):
            key = projected.token_key(token)
            if key not in tokens:
                tokens[key] = await self.tokens.token(pod, *key)
        writes = []
        for volume in volumes:
            kind = kind_of(volume)
            assert kind is not None
            payload = _payload(kind, volume, pod, secrets, configmaps, tokens, facts)
            path = pod_dir / "volumes" / KINDS[kind] / volume["name"]
            fs_group = securitycontext.pod_context(pod).get("fsGroup")
            writes.append(_Write(path, payload, kind in IN_MEMORY and self.use_tmpfs, fs_group))
        await asyncio.to_thread(_write_all, writes)
        return {w.path.name: str(w.path) for w in writes}

    async def unmount(self, pod_dir: Path) -> None:
        """Before the pod's directory is removed."""
        if self.use_tmpfs:
            await asyncio.to_thread(tmpfs.unmount_all, pod_dir)


def _payload(
    kind: str, volume: Object, pod: Object, secrets: dict[str, Object],
    configmaps: dict[str, Object], tokens: dict[projected.TokenKey, str],
    facts: downward.PodFacts,
) -> Payload:  # fmt: skip
    source = volume[kind]
    try:
        if kind == "secret":
            return projected.secret_volume(source, secrets)
        if kind == "configMap":
            return projected.configmap_volume(source, configmaps)
        if kind == "downwardAPI":
            return projected.downward_api_volume(source, pod, facts)
        return projected.projected_volume(source, pod, secrets, configmaps, tokens, facts)
    except ConfigError as e:
        raise MountError(f'MountVolume.SetUp failed for volume "{volume["name"]}" : {e}') from e


def _write_all(writes: list[_Write]) -> None:
    for write in writes:
        try:
            if write.in_memory:
                tmpfs.ensure(write.path)
            if atomicwriter.write(write.path, write.payload):
                logger.debug("volume %s written (%d files)", write.path, len(write.payload))
                ownership.apply_fs_group(write.path, write.fs_group)
        except (tmpfs.MountError, atomicwriter.PayloadError, OSError) as e:
            raise MountError(
                f'MountVolume.SetUp failed for volume "{write.path.name}" : {e}'
            ) from e
