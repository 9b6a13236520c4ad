"""Ephemeral containers in the kubelet's plan and status: started once into the running
sandbox (even before the pod is initialized), never restarted, never killed as strays, never
ready."""

from __future__ import annotations

from minik8s.kubelet import actions
from minik8s.kubelet import status as podstatus
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.runtime import State
from tests.unit.test_kubelet_init_plan import ctr, init, make_pod, sandbox


def with_debugger(pod: dict) -> dict:
    pod["spec"]["ephemeralContainers"] = [
        {"name": "dbg", "image": "busybox", "targetContainerName": "app"}
    ]
    return pod


def test_an_ephemeral_container_starts_once_even_before_the_pod_is_initialized() -> None:
    pod = with_debugger(make_pod([init("setup")]))
    planned = actions.compute(pod, [sandbox(), ctr("setup", State.RUNNING)], Backoff(), now=200)
    assert ("dbg", 0, False) in planned.start
    assert "setup-0" not in planned.kill


def test_an_ephemeral_container_is_never_restarted_nor_killed_as_a_stray() -> None:
    pod = with_debugger(make_pod([]))
    running = [sandbox(), ctr("app", State.RUNNING), ctr("dbg", State.RUNNING)]
    planned = actions.compute(pod, running, Backoff(), now=200)
    assert planned.start == [] and planned.kill == {}
    exited = [sandbox(), ctr("app", State.RUNNING), ctr("dbg", State.EXITED, code=1)]
    assert actions.compute(pod, exited, Backoff(), now=200).start == []


def test_no_ephemeral_container_without_a_running_sandbox() -> None:
    pod = with_debugger(make_pod([]))
    planned = actions.compute(pod, [], Backoff(), now=200)
    assert planned.create_sandbox and all(name != "dbg" for name, _, _ in planned.start)


def test_ephemeral_container_statuses_are_reported_and_never_ready() -> None:
    pod = with_debugger(make_pod([]))
    view = podstatus.PodView(now=lambda: "2026-01-01T00:00:00Z")
    running = [sandbox(), ctr("app", State.RUNNING), ctr("dbg", State.RUNNING)]
    status = podstatus.compute(pod, running, view)
    (debugger,) = status["ephemeralContainerStatuses"]
    assert debugger["name"] == "dbg" and debugger["ready"] is False
    assert "running" in debugger["state"]
    assert [s["name"] for s in status["containerStatuses"]] == ["app"]
