"""Why a container has no logs to show yet (Kubernetes' kubelet `validateContainerLogStatus`):
the message of the 400 a log request gets while the container has never run."""

from __future__ import annotations

from typing import Any

from minik8s.api.meta import Object

STATUS_FIELDS = ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")


def container_status(pod: Object, container: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for field in STATUS_FIELDS:
        for entry in status.get(field) or []:
            if isinstance(entry, dict) and entry.get("name") == container:
                return entry
    return None


def not_started(pod: Object, container: str) -> str:
    """The reason a container of `pod` with no instance on the node has no logs, worded as
    Kubernetes' kubelet words it."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = container_status(pod, container)
    if status is None:
        return f'container "{container}" in pod "{name}" is not available'
    state = status.get("state") or {}
    if "terminated" in state:
        return f'container "{container}" in pod "{name}" is terminated'
    reason = (state.get("waiting") or {}).get("reason")
    if reason == "ErrImagePull":
        return (
            f'container "{container}" in pod "{name}" is waiting to start: image can\'t be pulled'
        )
    if reason == "ImagePullBackOff":
        return (
            f'container "{container}" in pod "{name}" is waiting to start: '
            "trying and failing to pull image"
        )
    if "waiting" in state:
        return f'container "{container}" in pod "{name}" is waiting to start: {reason or ""}'
    return f'container "{container}" in pod "{name}" is waiting to start - no logs yet'
