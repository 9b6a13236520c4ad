"""The ServiceAccount admission plugin: every new pod runs as a ServiceAccount and, unless it or
its ServiceAccount says `automountServiceAccountToken: false`, gets its API credentials.

As Kubernetes' plugin does on pod create:
1. an empty `serviceAccountName` becomes `default`;
2. the ServiceAccount must exist (the `default` one is waited for a little: the serviceaccount
   controller makes it right after the namespace), else 403 `error looking up service account`;
3. the projected volume `kube-api-access-<5 chars>` (a 3607 s `serviceAccountToken`, `ca.crt`
   from the `kube-root-ca.crt` ConfigMap, the pod's `namespace` from the downward API) is
   added and mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount` in every
   container that has nothing mounted there;
4. a pod without `imagePullSecrets` gets its ServiceAccount's.
Mirror pods are left alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from minik8s.api import errors
from minik8s.api.meta import Object, annotations_of
from minik8s.api.resources import PODS, SERVICEACCOUNTS, ResourceType
from minik8s.apiserver import strategy

DEFAULT_SERVICE_ACCOUNT = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION_SECONDS = 3607
"""Kubernetes' WarnOnlyBoundTokenExpirationSeconds: an hour and 7 s, so that clients that do
not re-read their token show up in the apiserver's stale-token metrics."""
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_ACCOUNT_ATTEMPTS = 10

Getter = Callable[[str, str], Awaitable[Object | None]]
"""(namespace, name) -> the ServiceAccount, or None when it does not exist."""


def token_volume(name: str) -> Object:
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                         "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP,
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }  # fmt: skip


def should_automount(account: Object, pod: Object) -> bool:
    """The pod's `automountServiceAccountToken` wins, then the ServiceAccount's; default yes."""
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_says is not None:
        return bool(pod_says)
    account_says = account.get("automountServiceAccountToken")
    return True if account_says is None else bool(account_says)


def mutate(pod: Object, account: Object, rng: random.Random | None = None) -> None:
    """Steps 3 and 4 on a pod whose ServiceAccount is `account` (pure, in place)."""
    spec = pod.setdefault("spec", {})
    if should_automount(account, pod):
        _mount_token(spec, rng)
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [dict(ref) for ref in account["imagePullSecrets"]]


def _mount_token(spec: Object, rng: random.Random | None) -> None:
    volumes = list(spec.get("volumes") or [])
    existing = next(
        (v["name"] for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None
    )
    names = {v.get("name") for v in volumes}
    name = existing or strategy.generate_name(VOLUME_PREFIX, rng)
    while name in names and existing is None:
        name = strategy.generate_name(VOLUME_PREFIX, rng)
    mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
    needed = False
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = [*mounts, dict(mount)]
            needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, token_volume(name)]


class ServiceAccountAdmission:
    """Runs on pod create, after defaulting and before validation."""

    def __init__(self, get_account: Getter, retry_interval: float = 0.15) -> None:
        self._get = get_account
        self._retry_interval = retry_interval

    async def __call__(self, resource: ResourceType, pod: Object) -> None:
        if resource is not PODS or MIRROR_ANNOTATION in annotations_of(pod):
            return
        spec = pod.setdefault("spec", {})
        name = (
            spec.get("serviceAccountName")
            or spec.get("serviceAccount")
            or (DEFAULT_SERVICE_ACCOUNT)
        )
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        meta = pod["metadata"]
        account = await self._account(meta["namespace"], name)
        if account is None:
            raise errors.Forbidden(
                f'pods "{meta.get("name", "")}" is forbidden: error looking up service account '
                f'{meta["namespace"]}/{name}: serviceaccount "{name}" not found',
                kind="pods",
                name=meta.get("name", ""),
            )
        mutate(pod, account)

    async def _account(self, namespace: str, name: str) -> Object | None:
        attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._retry_interval)
            account = await self._get(namespace, name)
            if account is not None:
                return account
        return None


def getter(
    cache_get: Callable[[str], Object | None], read: Callable[..., Awaitable[Object]]
) -> Getter:
    """The watch cache first, then a read from etcd (the cache may not show it yet)."""

    async def get(namespace: str, name: str) -> Object | None:
        found = cache_get(SERVICEACCOUNTS.storage_key(namespace, name))
        if found is not None:
            return found
        try:
            return await read(SERVICEACCOUNTS, namespace, name)
        except errors.NotFound:
            return None

    return get
