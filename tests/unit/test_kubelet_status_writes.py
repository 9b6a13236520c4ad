"""The kubelet's status writes for a pod whose container exits at once (a Job's short pod), on
the hollow runtime: one write carries the final status, and a sync from an informer copy older
than that write writes nothing again."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

from minik8s.api.resources import PODS, ResourceType
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.podworkers import PodWorkers
from minik8s.kubelet.runtime.fake import FakeRuntime
from minik8s.kubelet.statusmanager import StatusManager
from minik8s.kubelet.tokenmanager import Token


class _Client:
    """The one call these syncs make: `pods/status` PUTs, stored with a new resourceVersion."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.revision = 10

    async def update_status(self, rt: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
        assert rt is PODS
        self.revision += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.revision)
        self.writes.append(stored)
        return stored


class _Recorder:
    def record(self, obj: object, kind: str, reason: str, message: str) -> None:
        pass


def _pod(command: list[str], restart_policy: str = "Never") -> dict[str, Any]:
    return {
        "metadata": {"name": "burst-x", "namespace": "bench", "uid": "u-1", "resourceVersion": "5"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": restart_policy,
            "enableServiceLinks": False,
            "containers": [{"name": "work", "image": "hollow:1", "command": command}],
        },
        "status": {"phase": "Pending"},
    }


def _workers(tmp_path: Path) -> tuple[PodWorkers, _Client]:
    client = _Client()
    settings = KubeletSettings("n1", root_dir=tmp_path)
    status = StatusManager(client)  # type: ignore[arg-type]
    workers = PodWorkers(settings, client, FakeRuntime(), _Recorder(), status)  # type: ignore[arg-type]
    return workers, client


async def test_a_pod_done_within_its_first_sync_is_written_once_with_its_final_status(
    tmp_path: Path,
) -> None:
    workers, client = _workers(tmp_path)
    pod = _pod(["true"])
    workers.pods["u-1"] = pod
    await workers.sync("u-1")
    assert len(client.writes) == 1, [w["status"] for w in client.writes]
    status = client.writes[0]["status"]
    assert status["phase"] == "Succeeded"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["PodReadyToStartContainers"] == "False", "the sandbox is stopped already"
    assert status["podIP"], "the IP the pod ran with is kept"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    # Syncs from the informer's copy older than that write (still Pending) write nothing more.
    await workers.sync("u-1")
    await workers.sync("u-1")
    assert len(client.writes) == 1, [w["status"] for w in client.writes[1:]]
    # Once the informer has the written pod, nothing changes either.
    workers.pods["u-1"] = client.writes[0]
    await workers.sync("u-1")
    assert len(client.writes) == 1


async def test_a_pod_that_keeps_running_is_written_running(tmp_path: Path) -> None:
    workers, client = _workers(tmp_path)
    workers.pods["u-1"] = _pod(["sleep", "3600"])
    await workers.sync("u-1")
    assert [w["status"]["phase"] for w in client.writes] == ["Running"]
    conditions = {c["type"]: c["status"] for c in client.writes[0]["status"]["conditions"]}
    assert conditions["PodReadyToStartContainers"] == "True"


async def test_a_failed_container_that_restarts_does_not_finish_the_pod(tmp_path: Path) -> None:
    workers, client = _workers(tmp_path)
    workers.pods["u-1"] = _pod(["false"], restart_policy="OnFailure")
    await workers.sync("u-1")
    assert client.writes, "its status is written"
    assert client.writes[-1]["status"]["phase"] not in ("Succeeded", "Failed")


async def test_a_pod_with_nothing_due_is_synced_again_on_its_own_jittered_period(
    tmp_path: Path,
) -> None:
    """Kubernetes' pod workers requeue each pod after wait.Jitter(resyncInterval, 0.5): not all
    of a node's pods at once (the informer's resync did), which held new pods behind them."""
    workers, _ = _workers(tmp_path)
    workers.on_add(_pod(["sleep", "3600"]))
    await workers.sync("u-1")
    pending = workers.queue._delayed["u-1"][0] - asyncio.get_running_loop().time()
    period = workers.settings.resync_period
    assert period * 0.99 <= pending <= period * 1.5, pending
    delays = {round(workers._resync_delay(), 6) for _ in range(20)}
    assert len(delays) > 1 and all(period <= d <= period * 1.5 for d in delays), delays
    workers.queue._delayed.pop("u-1")[1].cancel()


async def test_a_pod_with_a_token_due_later_still_resyncs_and_writes_back_its_ready(
    tmp_path: Path,
) -> None:
    """A token renewal due in 48 minutes must not replace the resync period: the node
    lifecycle controller's Ready=False (NodeNotReady) is written back at the next resync."""
    workers, client = _workers(tmp_path)
    pod = _pod(["sleep", "3600"])
    pod["spec"]["volumes"] = [{"name": "token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]  # fmt: skip
    workers.tokens._tokens[("u-1", "default", "", 3600)] = Token(
        "t", time.time(), time.time() + 3600
    )
    workers.on_add(pod)
    await workers.sync("u-1")
    pending = workers.queue._delayed["u-1"][0] - asyncio.get_running_loop().time()
    assert pending <= workers.settings.resync_period * 1.5, pending
    workers.queue._delayed.pop("u-1")[1].cancel()
    marked = copy.deepcopy(client.writes[-1])
    for condition in marked["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition.update(status="False", reason="NodeNotReady",
                             lastTransitionTime="2026-01-01T00:00:00Z")  # fmt: skip
    marked["metadata"]["resourceVersion"] = str(client.revision + 1)
    workers.pods["u-1"] = marked
    await workers.sync("u-1")
    ready = {c["type"]: c["status"] for c in client.writes[-1]["status"]["conditions"]}["Ready"]
    assert len(client.writes) == 2 and ready == "True"
    workers.queue._delayed.pop("u-1")[1].cancel()


async def test_a_status_someone_else_changed_syncs_the_pod_at_once(tmp_path: Path) -> None:
    """The informer's update carrying the node lifecycle controller's Ready=False queues the
    pod now (Kubernetes' status manager reconciles within 10 s), not at its next resync; the
    echo of the kubelet's own write, or a label change, does not."""
    workers, client = _workers(tmp_path)
    pod = _pod(["sleep", "3600"])
    workers.on_add(pod)
    await workers.queue.get()
    await workers.sync("u-1")
    workers.queue.done("u-1")
    workers.queue._delayed.pop("u-1")[1].cancel()
    written = copy.deepcopy(client.writes[-1])
    workers.on_update(pod, written)
    assert len(workers.queue) == 0, "the echo of its own write"
    relabelled = copy.deepcopy(written)
    relabelled["metadata"].update(resourceVersion=str(client.revision + 1), labels={"a": "b"})
    workers.on_update(written, relabelled)
    assert len(workers.queue) == 0, "a label change"
    marked = copy.deepcopy(relabelled)
    for condition in marked["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition.update(status="False", reason="NodeNotReady")
    marked["metadata"]["resourceVersion"] = str(client.revision + 2)
    workers.on_update(relabelled, marked)
    assert len(workers.queue) == 1, "Ready=False written by the node lifecycle controller"
    assert await workers.queue.get() == "u-1"
    await workers.sync("u-1")
    ready = {c["type"]: c["status"] for c in client.writes[-1]["status"]["conditions"]}["Ready"]
    assert len(client.writes) == 2 and ready == "True"
    workers.queue._delayed.pop("u-1")[1].cancel()
