"""The scheduler process against a real etcd + apiserver: Nodes are created directly (Ready,
with allocatable), pods are created through the API, and the scheduler binds them.

The module has a cluster of its own, so Unschedulable messages can count every node; each test
deletes its nodes and uses its own Lease, so a killed leader cannot hold up the next test.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import scheduling
from tests.support.api import Api
from tests.support.processes import Apiserver, Etcd, Process, free_port, temp_dir
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def cluster() -> Iterator[Apiserver]:
    work = temp_dir("minik8s-scheduler-test-")
    etcd = Etcd(work / "etcd")
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(8))
    try:
        etcd.start()
        server.start()
        yield server
    finally:
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture()
def api(cluster: Apiserver) -> Iterator[Api]:
    client = Api(cluster)
    yield client
    for node in client.get("/api/v1/nodes").json()["items"]:
        client.delete(f"/api/v1/nodes/{node['metadata']['name']}")
    client.close()


@pytest.fixture()
def ns(api: Api) -> str:
    return api.namespace()


class Scheduler:
    """One scheduler process and its /metrics."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    @property
    def scheduled(self) -> float:
        return self.metric('scheduler_schedule_attempts_total{result="scheduled"}')

    @property
    def leading(self) -> bool:
        return self.metric("scheduler_is_leader") == 1.0

    def ready(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"scheduler exited:\n{self.process.log_tail()}")
        return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200


@pytest.fixture()
def start_scheduler(cluster: Apiserver, tmp_path: Path) -> Iterator[Callable[[], Scheduler]]:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    lease = f"sched-{uuid.uuid4().hex[:8]}"
    started: list[Scheduler] = []

    def start() -> Scheduler:
        port = free_port()
        process = Process(
            "scheduler",
            [
                sys.executable, "-m", "minik8s.scheduler.server", f"--kubeconfig={kubeconfig}",
                f"--lease-name={lease}", f"--healthz-port={port}",
                "--leader-elect-lease-duration=3", "--leader-elect-renew-deadline=2",
                "--leader-elect-retry-period=0.5",
            ],
            tmp_path / f"scheduler-{len(started)}.log",
        )  # fmt: skip
        process.start()
        scheduler = Scheduler(process, port)
        started.append(scheduler)
        wait_for(scheduler.ready, "the scheduler to serve /readyz", timeout=20)
        return scheduler

    yield start
    for scheduler in started:
        code = scheduler.process.stop()
        assert code in (0, None, -signal.SIGKILL), scheduler.process.log_tail()


def create_node(api: Api, **kwargs: Any) -> None:
    name = kwargs.pop("name")
    r = api.post("/api/v1/nodes", scheduling.node(name, **kwargs))
    assert r.status_code == 201, r.text


def create_pod(api: Api, ns: str, name: str, **kwargs: Any) -> None:
    manifest = scheduling.pod(name, namespace=ns, **kwargs)
    del manifest["metadata"]["uid"]
    r = api.post(f"/api/v1/namespaces/{ns}/pods", manifest)
    assert r.status_code == 201, r.text


def get_pod(api: Api, ns: str, name: str) -> dict[str, Any]:
    r = api.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def node_of(api: Api, ns: str, name: str) -> str | None:
    return get_pod(api, ns, name)["spec"].get("nodeName")


def wait_bound(api: Api, ns: str, name: str, timeout: float = 15) -> str:
    return wait_for(lambda: node_of(api, ns, name), f"pod {ns}/{name} to be bound", timeout)


def scheduled_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == "PodScheduled":
            return dict(condition)
    return None


def events_about(api: Api, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    items = api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [e for e in items if e["involvedObject"].get("name") == name and e["reason"] == reason]


def test_pod_is_bound_to_the_only_node_it_fits(
    api: Api, ns: str, start_scheduler: Callable[[], Scheduler]
) -> None:
    create_node(api, name="small-1", cpu="1")
    create_node(api, name="small-2", cpu="1")
    create_node(api, name="big", cpu="8")
    create_node(api, name="not-ready", cpu="64", ready=False)
    start_scheduler()
    create_pod(api, ns, "web", cpu="2", memory="1Gi")
    assert wait_bound(api, ns, "web") == "big"
    condition = scheduled_condition(get_pod(api, ns, "web"))
    assert condition is not None and condition["status"] == "True"
    wait_for(lambda: events_about(api, ns, "web", "Scheduled"), "a Scheduled Event")


def test_exhaustion_is_unschedulable_until_a_node_with_room_appears(
    api: Api, ns: str, start_scheduler: Callable[[], Scheduler]
) -> None:
    create_node(api, name="n1", cpu="1")
    create_node(api, name="n2", cpu="1")
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    create_node(api, name="gpu", cpu="8", taints=[taint])
    start_scheduler()
    create_pod(api, ns, "a", cpu="600m")
    create_pod(api, ns, "b", cpu="600m")
    assert {wait_bound(api, ns, "a"), wait_bound(api, ns, "b")} == {"n1", "n2"}

    create_pod(api, ns, "c", cpu="600m")
    expected = (
        "0/3 nodes are available: 2 Insufficient cpu, "
        "1 node(s) had untolerated taint {dedicated: gpu}."
    )

    def unschedulable() -> bool:
        condition = scheduled_condition(get_pod(api, ns, "c")) or {}
        return condition.get("reason") == "Unschedulable" and condition["status"] == "False"

    wait_for(unschedulable, "pod c to be marked Unschedulable")
    condition = scheduled_condition(get_pod(api, ns, "c"))
    assert condition is not None and condition["message"] == expected
    events = wait_for(
        lambda: events_about(api, ns, "c", "FailedScheduling"), "a FailedScheduling Event"
    )
    assert events[0]["type"] == "Warning" and events[0]["message"] == expected
    assert node_of(api, ns, "c") is None

    create_node(api, name="n3", cpu="1")
    assert wait_bound(api, ns, "c", timeout=5) == "n3"  # retried on the change, not a timer


def test_a_finished_pod_frees_its_room_and_is_left_out_of_the_scheduler_watch(
    api: Api, ns: str, start_scheduler: Callable[[], Scheduler]
) -> None:
    """Like kube-scheduler's, the pod informer selects `status.phase!=Succeeded,!=Failed`: a
    pod that finishes comes to it as a deletion, which gives its node's room back."""
    create_node(api, name="only", cpu="1")
    start_scheduler()
    create_pod(api, ns, "first", cpu="600m")
    assert wait_bound(api, ns, "first") == "only"
    create_pod(api, ns, "second", cpu="600m")

    def unschedulable() -> bool:
        condition = scheduled_condition(get_pod(api, ns, "second")) or {}
        return condition.get("reason") == "Unschedulable"

    wait_for(unschedulable, "pod second to be marked Unschedulable")
    first = get_pod(api, ns, "first")
    first["status"]["phase"] = "Succeeded"
    r = api.put(f"/api/v1/namespaces/{ns}/pods/first/status", first)
    assert r.status_code == 200, r.text
    assert wait_bound(api, ns, "second", timeout=10) == "only"

    # A write to the finished pod (a Job's finalizer removal) is not sent to the scheduler;
    # one to the running pod is, after it: the watch's events keep the writes' order.
    sent = pod_watch_events(api)
    for name in ("first", "second"):
        r = api.patch(
            f"/api/v1/namespaces/{ns}/pods/{name}",
            {"metadata": {"labels": {"touched": "yes"}}},
            "application/merge-patch+json",
        )
        assert r.status_code == 200, r.text
    wait_for(lambda: pod_watch_events(api) > sent, "the scheduler's watch to get a pod event")
    assert pod_watch_events(api) == sent + 1


def pod_watch_events(api: Api) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith('apiserver_watch_events_total{resource="pods"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_taints_tolerations_and_node_selectors_are_respected(
    api: Api, ns: str, start_scheduler: Callable[[], Scheduler]
) -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    create_node(api, name="ssd", labels={"disk": "ssd"})
    create_node(api, name="gpu", taints=[taint])
    create_node(api, name="plain")
    create_node(api, name="cordoned", unschedulable=True)
    start_scheduler()
    create_pod(api, ns, "wants-ssd", node_selector={"disk": "ssd"})
    create_pod(
        api, ns, "wants-gpu",
        node_selector={"kubernetes.io/hostname": "gpu"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}],
    )  # fmt: skip
    create_pod(api, ns, "intolerant", node_selector={"kubernetes.io/hostname": "gpu"})
    for i in range(10):
        create_pod(api, ns, f"any-{i}", cpu="100m")
    assert wait_bound(api, ns, "wants-ssd") == "ssd"
    assert wait_bound(api, ns, "wants-gpu") == "gpu"
    for i in range(10):
        assert wait_bound(api, ns, f"any-{i}") in ("ssd", "plain")

    def unschedulable_message() -> str | None:
        condition = scheduled_condition(get_pod(api, ns, "intolerant")) or {}
        return condition.get("message")

    message = wait_for(unschedulable_message, "pod intolerant to be marked Unschedulable")
    assert message == (
        "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable."
    )


def test_two_schedulers_bind_each_pod_once_and_the_standby_takes_over(
    api: Api, ns: str, start_scheduler: Callable[[], Scheduler]
) -> None:
    for i in range(10):
        create_node(api, name=f"node-{i}")
    schedulers = [start_scheduler(), start_scheduler()]
    leader = wait_for(
        lambda: next((s for s in schedulers if s.leading), None), "one scheduler to lead"
    )
    standby = next(s for s in schedulers if s is not leader)
    for i in range(200):
        create_pod(api, ns, f"p{i}", cpu="10m")

    def all_bound(prefix: str, count: int) -> bool:
        items = api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
        names = {p["metadata"]["name"] for p in items if p["spec"].get("nodeName")}
        return all(f"{prefix}{i}" in names for i in range(count))

    wait_for(lambda: all_bound("p", 200), "200 pods to be bound", timeout=60)
    assert leader.scheduled == 200 and standby.scheduled == 0
    assert not standby.leading

    leader.process.stop(signal.SIGKILL)
    for i in range(20):
        create_pod(api, ns, f"q{i}", cpu="10m")
    wait_for(lambda: all_bound("q", 20), "the standby to bind the pods", timeout=15)
    assert standby.leading and standby.scheduled == 20
