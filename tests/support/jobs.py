"""A stand-in kubelet for Job tests: a thread that runs each new pod of a namespace to the
outcome a function picks (Succeeded, Failed with an exit code, or Running), writing the pod
status a kubelet would, and records how many pods were active at every watch event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api import meta
from tests.support.api import Api
from tests.support.controllers import PodWatcher, now

Outcome = tuple[str, int] | None
"""("Succeeded", 0), ("Failed", exit code), or None to leave the pod Running."""


def job_path(ns: str, name: str = "") -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs" + (f"/{name}" if name else "")


def job_manifest(name: str, command: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "minik8s/busybox"}
    if command:
        container["command"] = command
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The condition of this type if it is True."""
    found = meta.get_condition(obj, type_)
    return found if found is not None and found.get("status") == "True" else None


def finish_pod(api: Api, ns: str, name: str, phase: str, exit_code: int) -> bool:
    r = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    if r.status_code != 200:
        return False
    pod = r.json()
    stamp = now()
    pod["status"] = {
        **(pod.get("status") or {}),
        "phase": phase,
        "containerStatuses": [{
            "name": "main", "ready": False, "restartCount": 0, "image": "minik8s/busybox",
            "imageID": "", "started": False,
            "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0
                                     else "Error", "startedAt": stamp, "finishedAt": stamp}},
        }],
    }  # fmt: skip
    return api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", pod).status_code == 200


class PodRunner(PodWatcher):
    def __init__(self, api: Api, ns: str, outcome: Callable[[dict[str, Any]], Outcome]) -> None:
        super().__init__(api, ns, "pod runner")
        self.outcome = outcome
        self.seen: set[str] = set()
        self.created = 0
        self.max_active = 0
        self._active: set[str] = set()

    def _handle(self, event: dict[str, Any]) -> None:
        pod = event["object"]
        uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        if event["type"] == "DELETED" or deleting or phase in ("Succeeded", "Failed"):
            self._active.discard(uid)
        elif event["type"] == "ADDED" and uid not in self.seen:
            self._active.add(uid)
        self.max_active = max(self.max_active, len(self._active))
        if event["type"] != "ADDED" or uid in self.seen or deleting:
            return
        self.seen.add(uid)
        self.created += 1
        result = self.outcome(pod)
        if result is not None:
            finish_pod(self.api, self.ns, name, *result)
