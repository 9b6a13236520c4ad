"""A real controller-manager process for integration tests, and a stand-in kubelet that
writes pod status (phase, Ready condition, podIP) the way the kubelet would."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from minik8s.api import meta, times
from tests.support.api import Api
from tests.support.processes import Process, free_port
from tests.support.waiting import wait_for

FAST_FLAGS = [
    "--leader-elect=false",
    "--node-monitor-period=0.3",
    "--node-monitor-grace-period=2",
    "--node-startup-grace-period=3",
    "--pod-eviction-timeout=1",
]
"""Small periods so node lifecycle tests take seconds."""


@dataclass
class ControllerManager:
    kubeconfig: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=lambda: list(FAST_FLAGS))
    port: int = field(default_factory=free_port)
    process: Process | None = None

    def start(self, wait_ready: bool = True) -> None:
        args = [
            sys.executable,
            "-m",
            "minik8s.controllers.server",
            f"--kubeconfig={self.kubeconfig}",
            f"--healthz-port={self.port}",
            "--v=debug",
            *self.extra_args,
        ]
        self.process = Process("controller-manager", args, self.log_path)
        self.process.start()
        if wait_ready:
            self.wait_ready()

    def ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"controller-manager exited:\n{self.process.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 20) -> None:
        wait_for(self.ready, "the controller-manager to run its controllers", timeout=timeout)

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None

    def kill(self) -> None:
        if self.process:
            self.process.kill()


_ips = itertools.count(2)


def now() -> str:
    return times.now_rfc3339()


def next_ip() -> str:
    n = next(_ips)
    return f"10.244.{n // 250}.{n % 250 + 1}"


def set_pod_status(
    api: Api, ns: str, pod: dict[str, Any], ready: bool, ip: str | None = None
) -> dict[str, Any]:
    """Write the status a kubelet would: Running, with Ready as asked, and a pod IP."""
    name = pod["metadata"]["name"]
    fresh = api.get(f"/api/v1/namespaces/{ns}/pods/{name}").json()
    status = fresh.get("status") or {}
    stamp = now()
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    conditions.append(
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": stamp}
    )
    fresh["status"] = {
        **status,
        "phase": "Running",
        "conditions": conditions,
        "podIP": ip or status.get("podIP") or next_ip(),
    }
    r = api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status", fresh)
    assert r.status_code == 200, r.text
    return dict(r.json())


def pods(api: Api, ns: str, selector: str | None = None) -> list[dict[str, Any]]:
    params = {"labelSelector": selector} if selector else {}
    r = api.get(f"/api/v1/namespaces/{ns}/pods", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def live(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those not being deleted."""
    return [i for i in items if not i["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict[str, Any]) -> bool:
    return meta.condition_is_true(pod, "Ready")


def rolled_out(
    deployment: dict[str, Any],
    pods: list[dict[str, Any]],
    replicas: int,
    updated: Callable[[dict[str, Any]], bool],
) -> bool:
    """The Deployment has observed its generation and reports `replicas` updated, available
    and in all; exactly `replicas` of `pods` are live, all Running and `updated`."""
    status = deployment.get("status") or {}
    current = live(pods)
    return (
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
        and len(current) == replicas
        and all(updated(p) for p in current)
        and all(p["status"].get("phase") == "Running" for p in current)
    )


def make_all_ready(api: Api, ns: str, selector: str | None = None) -> int:
    """Mark every live pod without a Ready=True condition ready; how many were."""
    count = 0
    for pod in live(pods(api, ns, selector)):
        if not is_ready(pod):
            set_pod_status(api, ns, pod, ready=True)
            count += 1
    return count


class PodWatcher:
    """A thread (while the `with` block lasts) that hands every watch event on the pods of a
    namespace to `_handle`; what it raises is kept in `.errors` for the test to surface."""

    def __init__(self, api: Api, ns: str, thread_name: str) -> None:
        import threading

        self.api = api
        self.ns = ns
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{thread_name} {ns}", daemon=True)
        self.errors: list[BaseException] = []

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                path = f"/api/v1/namespaces/{self.ns}/pods"
                with self.api.watch(path, timeoutSeconds=1) as events:
                    for event in events:
                        self._handle(event)
                        if self._stop.is_set():
                            return
        except BaseException as e:  # surfaced by the test through .errors
            self.errors.append(e)

    def _handle(self, event: dict[str, Any]) -> None:
        raise NotImplementedError


class FakeKubelet(PodWatcher):
    """A thread that marks every new pod of a namespace Running and Ready (unless its labels
    include `ready=never`), and checks an invariant after every watch event."""

    def __init__(self, api: Api, ns: str) -> None:
        super().__init__(api, ns, "fake kubelet")
        self.pods: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, dict[str, Any]]] = []
        """The namespace's pods after each event (name -> pod)."""

    def _handle(self, event: dict[str, Any]) -> None:
        pod = event["object"]
        name = pod["metadata"]["name"]
        if event["type"] == "DELETED":
            self.pods.pop(name, None)
        elif event["type"] in ("ADDED", "MODIFIED"):
            self.pods[name] = pod
        else:
            return
        self.history.append(dict(self.pods))
        labels = pod["metadata"].get("labels") or {}
        if event["type"] != "DELETED" and not pod["metadata"].get("deletionTimestamp"):
            if not is_ready(pod) and labels.get("ready") != "never":
                try:
                    set_pod_status(self.api, self.ns, pod, ready=True)
                except AssertionError:
                    pass  # deleted meanwhile


def run_controller_manager(
    apiserver: Any,
    tmp_path_factory: Any,
    controllers: str = "*",
    name: str = "cm",
    args: Sequence[str] = (),
) -> Iterator[ControllerManager]:
    """The body of a module fixture: one controller-manager running `controllers` (the
    `--controllers` value) with FAST_FLAGS and `args`, checked to be alive at the end and to
    exit cleanly on SIGTERM."""
    work = tmp_path_factory.mktemp(name)
    kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
    cm = ControllerManager(
        kubeconfig,
        work / "controller-manager.log",
        [*FAST_FLAGS, f"--controllers={controllers}", *args],
    )
    cm.start()
    yield cm
    assert cm.process is not None and cm.process.alive(), cm.process and cm.process.log_tail()
    assert cm.stop() == 0, "a clean exit on SIGTERM"
