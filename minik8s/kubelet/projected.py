"""What secret, configMap, downwardAPI and projected volumes hold: their payloads (pure).

Given the objects they refer to (looked up by the caller) and, for `serviceAccountToken`
sources, the tokens already requested, each function returns the files to write as an
`atomicwriter.Payload`. A missing object or key is a `ConfigError` unless the source is
`optional`, with Kubernetes' messages (`secret "db" not found`, `references non-existent
secret key: password`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from minik8s.api.meta import Object
from minik8s.kubelet import downward
from minik8s.kubelet.atomicwriter import FileProjection, Payload
from minik8s.kubelet.configerror import ConfigError

DEFAULT_MODE = 0o644

TokenKey = tuple[str, int]
"""(audience, expirationSeconds) of a `serviceAccountToken` source; "" is the API's audience."""


def object_payload(
    kind: str, name: str, obj: Object | None, items: list[Object] | None, default_mode: int,
    optional: bool,
) -> dict[str, FileProjection]:  # fmt: skip
    """The files of a Secret (`kind` "secret") or ConfigMap ("configmap") with its items."""
    if obj is None:
        if optional:
            return {}
        raise ConfigError(f'{kind} "{name}" not found')
    data = _secret_data(obj) if kind == "secret" else _configmap_data(obj)
    if not items:
        return {key: FileProjection(value, default_mode) for key, value in data.items()}
    payload = {}
    for item in items:
        value = data.get(item["key"])
        if value is None:
            if optional:
                continue
            raise ConfigError(f"references non-existent {kind} key: {item['key']}")
        mode = item.get("mode")
        payload[item["path"]] = FileProjection(value, default_mode if mode is None else mode)
    return payload


def secret_volume(source: Object, secrets: Mapping[str, Object]) -> Payload:
    name = source.get("secretName") or ""
    return object_payload("secret", name, secrets.get(name), source.get("items"),
                          _mode(source), bool(source.get("optional")))  # fmt: skip


def configmap_volume(source: Object, configmaps: Mapping[str, Object]) -> Payload:
    name = source.get("name") or ""
    return object_payload("configmap", name, configmaps.get(name), source.get("items"),
                          _mode(source), bool(source.get("optional")))  # fmt: skip


def downward_api_volume(source: Object, pod: Object, facts: downward.PodFacts) -> Payload:
    return _downward_items(source.get("items") or [], _mode(source), pod, facts)


def projected_volume(
    source: Object,
    pod: Object,
    secrets: Mapping[str, Object],
    configmaps: Mapping[str, Object],
    tokens: Mapping[TokenKey, str],
    facts: downward.PodFacts | None = None,
) -> Payload:
    default_mode = _mode(source)
    payload: dict[str, FileProjection] = {}
    for projection in source.get("sources") or []:
        if projection.get("secret") is not None:
            ref = projection["secret"]
            name = ref.get("name") or ""
            payload.update(object_payload("secret", name, secrets.get(name), ref.get("items"),
                                          default_mode, bool(ref.get("optional"))))  # fmt: skip
        elif projection.get("configMap") is not None:
            ref = projection["configMap"]
            name = ref.get("name") or ""
            payload.update(object_payload("configmap", name, configmaps.get(name),
                                          ref.get("items"), default_mode,
                                          bool(ref.get("optional"))))  # fmt: skip
        elif projection.get("downwardAPI") is not None:
            items = projection["downwardAPI"].get("items") or []
            payload.update(_downward_items(items, default_mode, pod,
                                           facts or downward.PodFacts()))  # fmt: skip
        elif projection.get("serviceAccountToken") is not None:
            token = projection["serviceAccountToken"]
            payload[token["path"]] = FileProjection(tokens[token_key(token)].encode(), default_mode)
    return payload


def token_key(projection: Object) -> TokenKey:
    return str(projection.get("audience") or ""), int(projection.get("expirationSeconds") or 3600)


def token_projections(pod: Object) -> list[Object]:
    """Every `serviceAccountToken` source of the pod's projected volumes."""
    found = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        for projection in (volume.get("projected") or {}).get("sources") or []:
            if projection.get("serviceAccountToken") is not None:
                found.append(projection["serviceAccountToken"])
    return found


def referenced(pod: Object, kind: str) -> set[str]:
    """Names of the Secrets (`kind` "secret") or ConfigMaps ("configMap") the pod uses:
    volumes, projected sources, env, envFrom and (Secrets) imagePullSecrets."""
    names: set[str] = set()
    spec = pod.get("spec") or {}
    for volume in spec.get("volumes") or []:
        source = volume.get(kind)
        if isinstance(source, dict):
            names.add(source.get("secretName" if kind == "secret" else "name") or "")
        for projection in (volume.get("projected") or {}).get("sources") or []:
            ref = projection.get(kind)
            if isinstance(ref, dict):
                names.add(ref.get("name") or "")
    ref_key = "secretKeyRef" if kind == "secret" else "configMapKeyRef"
    from_key = "secretRef" if kind == "secret" else "configMapRef"
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for var in container.get("env") or []:
            ref = (var.get("valueFrom") or {}).get(ref_key)
            if ref:
                names.add(ref.get("name") or "")
        for source in container.get("envFrom") or []:
            ref = source.get(from_key)
            if ref:
                names.add(ref.get("name") or "")
    if kind == "secret":
        names.update(ref.get("name") or "" for ref in spec.get("imagePullSecrets") or [])
    return names - {""}


def _downward_items(
    items: list[Object], default_mode: int, pod: Object, facts: downward.PodFacts
) -> dict[str, FileProjection]:
    payload = {}
    for item in items:
        if item.get("fieldRef"):
            value = downward.field_value(pod, item["fieldRef"]["fieldPath"], facts, True)
        else:
            value = downward.pod_resource_value(pod, item.get("resourceFieldRef") or {}, facts)
        mode = item.get("mode")
        payload[item["path"]] = FileProjection(
            value.encode(), default_mode if mode is None else mode
        )
    return payload


def _secret_data(secret: Object) -> dict[str, bytes]:
    data = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value)
        except (binascii.Error, ValueError, TypeError) as e:
            raise ConfigError(f"secret key {key}: invalid base64") from e
    return data


def _configmap_data(configmap: Object) -> dict[str, bytes]:
    data: dict[str, bytes] = {k: str(v).encode() for k, v in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        data[key] = base64.b64decode(value)
    return data


def _mode(source: Object) -> int:
    mode: Any = source.get("defaultMode")
    return DEFAULT_MODE if mode is None else int(mode)
