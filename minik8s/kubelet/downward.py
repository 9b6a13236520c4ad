"""The downward API, pure: the pod's own fields and its containers' resources as values, for
environment variables (`env[].valueFrom.fieldRef/resourceFieldRef`) and for downwardAPI
volume files (`items[].fieldRef/resourceFieldRef`), as Kubernetes' `fieldpath` package
and the kubelet compute them.

Volume files may also hold `metadata.labels` and `metadata.annotations` whole, one
`key="value"` line each; environment variables only single ones
(`metadata.labels['app']`). A resource is the container's request or limit divided by
`divisor` (default 1) and rounded up; an unset limit is the node's allocatable amount, as the
kubelet gives it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from minik8s.api import podutil, quantity
from minik8s.api.meta import Object, annotations_of, labels_of
from minik8s.kubelet.configerror import ConfigError


@dataclass(frozen=True)
class PodFacts:
    """What the downward API tells beyond the pod object: its addresses, the node's size."""

    pod_ip: str = ""
    host_ip: str = ""
    allocatable: Mapping[str, str] | None = None
    """The node's allocatable resources (`cpu`, `memory`, `ephemeral-storage`): the value of
    an unset limit. None: an unset limit reads 0."""


_PATHS = {
    "metadata.name": lambda pod, facts: (pod.get("metadata") or {}).get("name"),
    "metadata.namespace": lambda pod, facts: (pod.get("metadata") or {}).get("namespace"),
    "metadata.uid": lambda pod, facts: (pod.get("metadata") or {}).get("uid"),
    "spec.nodeName": lambda pod, facts: (pod.get("spec") or {}).get("nodeName"),
    "spec.serviceAccountName": lambda pod, facts: (pod.get("spec") or {}).get("serviceAccountName"),
    "status.podIP": lambda pod, facts: facts.pod_ip,
    "status.podIPs": lambda pod, facts: facts.pod_ip,
    "status.hostIP": lambda pod, facts: facts.host_ip,
    "status.hostIPs": lambda pod, facts: facts.host_ip,
}
_ONE_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Object, path: str, facts: PodFacts, whole_maps: bool = False) -> str:
    """The value of a `fieldRef.fieldPath`; `whole_maps` (volumes) also allows
    `metadata.labels` and `metadata.annotations`."""
    getter = _PATHS.get(path)
    if getter is not None:
        return str(getter(pod, facts) or "")
    match = _ONE_KEY.match(path)
    if match:
        return str(((pod.get("metadata") or {}).get(match[1]) or {}).get(match[2], ""))
    if whole_maps and path == "metadata.labels":
        return format_map(labels_of(pod))
    if whole_maps and path == "metadata.annotations":
        return format_map(annotations_of(pod))
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


def format_map(values: Mapping[str, str]) -> str:
    """`key="value"` lines, sorted, as the kubelet writes labels and annotations."""
    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items()))


def resource_value(container: Object, ref: Object, facts: PodFacts) -> str:
    """`requests.cpu`, `limits.memory`, … of `container`, divided by the divisor, rounded up."""
    resource = str(ref.get("resource") or "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported container resource: {resource!r}")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is None and kind == "limits":
        value = (facts.allocatable or {}).get(name)
    divisor = ref.get("divisor") or "1"
    try:
        if name == "cpu":
            amount = quantity.cpu_millis(value) if value is not None else 0
            return str(math.ceil(amount / quantity.cpu_millis(divisor)))
        amount = quantity.memory_bytes(value) if value is not None else 0
        return str(math.ceil(amount / quantity.memory_bytes(divisor)))
    except (ValueError, ZeroDivisionError) as e:
        raise ConfigError(f"resourceFieldRef {resource}: invalid divisor {divisor!r}") from e


def pod_resource_value(pod: Object, ref: Object, facts: PodFacts) -> str:
    """A volume item's `resourceFieldRef`, which names its container."""
    name = str(ref.get("containerName") or "")
    container = podutil.container_named(pod, name)
    if container is None:
        raise ConfigError(f"resourceFieldRef: container {name!r} not found in the pod")
    return resource_value(container, ref, facts)
