"""The density bench's pod startup breakdown: clusterloader2's phases from one pod's watch."""

from typing import Any

from bench.startup_phases import StartupPhases


def pod(**status: Any) -> dict[str, Any]:
    spec = {"nodeName": status.pop("node")} if "node" in status else {}
    return {
        "metadata": {"uid": "u1", "creationTimestamp": "2026-12-07T11:00:00Z"},
        "spec": spec,
        "status": status,
    }


def test_each_phase_runs_between_the_written_times_and_our_watch_sightings() -> None:
    clock = iter([1796641200.2, 1796641200.7, 1796641203.9, 1796641205.5])
    phases = StartupPhases(clock=lambda: next(clock))
    scheduled = {"type": "PodScheduled", "status": "True",
                 "lastTransitionTime": "2026-12-07T11:00:00Z"}  # fmt: skip
    phases.on_pod(pod())
    phases.on_pod(pod(node="n1", conditions=[scheduled]))
    phases.on_pod(pod(node="n1", conditions=[scheduled], phase="Pending",
                      startTime="2026-12-07T11:00:02Z"))  # fmt: skip
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T11:00:05Z"}
    running = {"state": {"running": {"startedAt": "2026-12-07T11:00:04Z"}}}
    phases.on_pod(pod(node="n1", conditions=[scheduled, ready], phase="Running",
                      startTime="2026-12-07T11:00:02Z", containerStatuses=[running]))  # fmt: skip

    got = {name: values[0] for name, values in phases.phases().items()}
    assert got["create_to_schedule"] == 0.0
    assert got["schedule_to_run"] == 4.0
    assert got["schedule_to_kubelet_sync"] == 2.0
    assert got["kubelet_sync_to_run"] == 2.0
    assert got["run_to_ready"] == 1.0
    assert round(got["run_to_watch"], 3) == 1.5
    assert round(got["pod_startup"], 3) == 5.5
    assert round(got["watch_create_to_bound"], 3) == 0.5
    assert round(got["watch_bound_to_running"], 3) == 4.8
    assert round(got["watch_create_to_running"], 3) == 5.3


def test_a_pod_not_yet_running_counts_only_in_the_phases_it_finished() -> None:
    phases = StartupPhases(clock=lambda: 1796641201.0)
    phases.on_pod(pod(node="n1"))
    got = phases.phases(["u1", "other"])
    assert len(got["watch_create_to_bound"]) == 1
    assert got["pod_startup"] == [] and got["schedule_to_run"] == []
    report = phases.report("create", ["u1"])
    line = next(x for x in report if "pod_startup" in x)
    assert line.endswith("n=0")
    assert next(x for x in report if "watch_create_to_bound" in x).endswith("(n=1)")


def test_without_container_start_times_the_ready_transition_is_the_run_time() -> None:
    phases = StartupPhases(clock=lambda: 1796641203.0)
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-07T11:00:02Z"}
    phases.on_pod(pod(node="n1", phase="Running", conditions=[ready]))
    assert phases.phases()["run_to_watch"] == [1.0]
