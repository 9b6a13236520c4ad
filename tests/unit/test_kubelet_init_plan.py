"""Init containers and sidecars (`init_plan`), the pod phase and conditions (`phase`), the
final status of a deleted pod, the scheduler's effective requests with sidecars, and the
DisruptionTarget condition of the taint manager."""

from __future__ import annotations

from minik8s.api import meta
from minik8s.controllers import nodelifecycle_plan
from minik8s.kubelet import actions, init_plan, phase
from minik8s.kubelet import status as podstatus
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.runtime import Container, State
from minik8s.scheduler import nodeinfo

UID = "uid-1"


def make_pod(inits: list[dict], apps: tuple[str, ...] = ("app",), policy: str = "Always") -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": UID},
        "spec": {
            "restartPolicy": policy,
            "initContainers": inits,
            "containers": [{"name": n, "image": "img"} for n in apps],
        },
    }


def init(name: str, sidecar: bool = False) -> dict:
    c = {"name": name, "image": "img"}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


def ctr(name: str, state: State, attempt: int = 0, code: int | None = None) -> Container:
    labels = {"minik8s.pod-uid": UID, "minik8s.container": name, "minik8s.attempt": str(attempt)}
    return Container(
        id=f"{name}-{attempt}", name=name, labels=labels, image="img", image_id="sha256:x",
        state=state, exit_code=code, started_at=100.0,
        finished_at=101.0 if state is State.EXITED else None,
    )  # fmt: skip


def sandbox() -> Container:
    return ctr("POD", State.RUNNING)


def groups(*containers: Container) -> dict[str, list[Container]]:
    return actions.by_name(list(containers))


# --- init_plan --------------------------------------------------------------------------------


def test_init_containers_run_one_after_another_before_the_app() -> None:
    pod = make_pod([init("a"), init("b")])
    assert init_plan.plan(pod, groups()).start == ["a"]
    running = init_plan.plan(pod, groups(ctr("a", State.RUNNING)))
    assert running.start == [] and not running.initialized
    assert init_plan.plan(pod, groups(ctr("a", State.EXITED, code=0))).start == ["b"]
    done = init_plan.plan(
        pod, groups(ctr("a", State.EXITED, code=0), ctr("b", State.EXITED, code=0))
    )
    assert done.initialized and done.start == []


def test_a_failed_init_container_runs_again_unless_the_pod_is_never_restarted() -> None:
    failed = groups(ctr("a", State.EXITED, code=1))
    assert init_plan.plan(make_pod([init("a")]), failed).start == ["a"]
    assert init_plan.plan(make_pod([init("a")], policy="OnFailure"), failed).start == ["a"]
    never = init_plan.plan(make_pod([init("a")], policy="Never"), failed)
    assert never.failed and never.start == []


def test_a_started_sidecar_lets_the_next_init_container_start_and_keeps_running() -> None:
    pod = make_pod([init("side", sidecar=True), init("b")])
    assert init_plan.plan(pod, groups(ctr("side", State.RUNNING))).start == ["b"]
    not_started = init_plan.plan(pod, groups(ctr("side", State.RUNNING)), started={"side": False})
    assert not_started.start == []  # its startup probe has not passed yet
    up = groups(
        ctr("side", State.RUNNING), ctr("b", State.EXITED, code=0), ctr("app", State.RUNNING)
    )
    assert init_plan.plan(pod, up).initialized and init_plan.plan(pod, up).start == []


def test_a_sidecar_that_exits_is_restarted_even_after_initialization() -> None:
    pod = make_pod([init("side", sidecar=True)], policy="Never")
    exited = groups(ctr("side", State.EXITED, code=1), ctr("app", State.RUNNING))
    planned = init_plan.plan(pod, exited)
    assert planned.start == ["side"] and planned.initialized and not planned.failed


def test_a_sidecar_whose_liveness_failed_is_killed_and_restarted() -> None:
    pod = make_pod([init("side", sidecar=True)])
    planned = init_plan.plan(
        pod, groups(ctr("side", State.RUNNING), ctr("app", State.RUNNING)), liveness_failed=["side"]
    )
    assert "side-0" in planned.kill and planned.start == ["side"]


def test_init_containers_that_completed_are_not_run_again_once_the_app_runs() -> None:
    pod = make_pod([init("a"), init("b")])
    planned = init_plan.plan(pod, groups(ctr("app", State.RUNNING)))  # init containers gone
    assert planned.initialized and planned.start == []


def test_sidecars_stop_after_the_app_containers_in_reverse_order() -> None:
    pod = make_pod([init("s1", sidecar=True), init("job"), init("s2", sidecar=True)])
    prereqs = init_plan.termination_prereqs(pod, ["s1", "s2", "app"])
    assert prereqs == {"app": set(), "s2": {"app"}, "s1": {"app", "s2"}}


# --- actions with init containers ----------------------------------------------------------


def test_the_app_starts_only_once_initialized_and_a_job_pod_ends_despite_its_sidecar() -> None:
    pod = make_pod([init("side", sidecar=True), init("setup")], policy="Never")
    first = actions.compute(pod, [sandbox(), ctr("side", State.RUNNING)], Backoff(), now=200)
    assert [s[0] for s in first.start] == ["setup"]
    done = [sandbox(), ctr("side", State.RUNNING), ctr("setup", State.EXITED, code=0),
            ctr("app", State.EXITED, code=0)]  # fmt: skip
    finished = actions.compute(pod, done, Backoff(), now=200)
    assert finished.terminal and "side-0" in finished.kill and finished.stop_sandbox


def test_a_failed_init_container_backs_off_before_its_restart() -> None:
    pod = make_pod([init("a")])
    backoff = Backoff(10, 300)
    backoff.next(actions.backoff_key(UID, "a"), 101.0)
    planned = actions.compute(pod, [sandbox(), ctr("a", State.EXITED, code=1)], backoff, now=102)
    assert planned.start == [] and planned.waiting["a"][0] == "CrashLoopBackOff"


# --- phase and conditions ------------------------------------------------------------------


def status_of(pod: dict, containers: list[Container], terminal: bool = False) -> dict:
    view = podstatus.PodView(terminal=terminal, now=lambda: "2026-01-01T00:00:00Z")
    return podstatus.compute(pod, containers, view)


def condition(status: dict, kind: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_a_pod_initializing_is_pending_with_init_container_statuses() -> None:
    pod = make_pod([init("a"), init("b")])
    status = status_of(pod, [sandbox(), ctr("a", State.RUNNING)])
    assert status["phase"] == "Pending"
    assert [s["name"] for s in status["initContainerStatuses"]] == ["a", "b"]
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    initialized = condition(status, "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
    assert initialized["message"] == "containers with incomplete status: [a b]"


def test_a_never_pod_whose_init_container_failed_is_failed() -> None:
    pod = make_pod([init("a")], policy="Never")
    assert status_of(pod, [sandbox(), ctr("a", State.EXITED, code=1)])["phase"] == "Failed"


def test_a_job_pod_with_a_running_sidecar_succeeds_when_its_app_does() -> None:
    pod = make_pod([init("side", sidecar=True)], policy="Never")
    containers = [ctr("side", State.EXITED, code=137), ctr("app", State.EXITED, code=0)]
    status = status_of(pod, containers)
    assert status["phase"] == "Succeeded"
    assert condition(status, "Initialized")["status"] == "True"


def test_a_deleted_running_pod_ends_failed_and_one_that_succeeded_stays_succeeded() -> None:
    pod = make_pod([], policy="Always")
    killed = status_of(pod, [ctr("app", State.EXITED, code=137)], terminal=True)
    assert killed["phase"] == "Failed"
    clean = status_of(pod, [ctr("app", State.EXITED, code=0)], terminal=True)
    assert clean["phase"] == "Succeeded"
    never_ran = status_of(pod, [], terminal=True)
    assert never_ran["phase"] == "Failed"
    terminated = never_ran["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "ContainerStatusUnknown" and terminated["exitCode"] == 137


def test_a_finished_pod_synced_again_after_its_containers_went_keeps_their_final_state() -> None:
    pod = make_pod([], policy="Always")
    c = ctr("app", State.EXITED, code=137)
    view = podstatus.PodView(messages={c.id: "bye\n"}, terminal=True)
    pod["status"] = podstatus.compute(pod, [c], view)
    again = status_of(pod, [], terminal=True)  # the containers were removed meanwhile
    terminated = again["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "Error" and terminated["message"] == "bye\n"
    assert again["phase"] == "Failed"


def test_conditions_the_kubelet_does_not_own_are_kept() -> None:
    pod = make_pod([])
    pod["status"] = {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "X"}]}
    status = status_of(pod, [sandbox(), ctr("app", State.RUNNING)])
    assert condition(status, "DisruptionTarget")["reason"] == "X"
    assert condition(status, "PodReadyToStartContainers")["status"] == "True"


def test_get_phase_counts_a_waiting_app_container_as_pending() -> None:
    pod = make_pod([])
    waiting = [{"name": "app", "state": {"waiting": {}}, "lastState": {}}]
    assert phase.get_phase(pod, [], waiting) == "Pending"


def test_termination_messages_are_trimmed_to_the_pods_share() -> None:
    pod = make_pod([], apps=("a", "b"))
    c = ctr("a", State.EXITED, code=1)
    view = podstatus.PodView(messages={c.id: "x" * 10000})
    status = podstatus.compute(pod, [c], view)
    message = status["containerStatuses"][0]["state"]["terminated"]["message"]
    assert len(message) == podstatus.MAX_POD_TERMINATION_MESSAGES // 2


# --- scheduler: effective requests ---------------------------------------------------------


def requests(cpu: str) -> dict:
    return {"resources": {"requests": {"cpu": cpu}}}


def test_effective_requests_add_sidecars_and_take_the_largest_init_step() -> None:
    spec = {
        "initContainers": [
            {"name": "big", **requests("2")},
            {"name": "side", "restartPolicy": "Always", **requests("500m")},
            {"name": "after", **requests("1")},
        ],
        "containers": [{"name": "app", **requests("1")}],
    }
    cpu = nodeinfo.pod_requests(spec)[0]
    assert cpu == 2000  # max(2, 0.5 + 1 (after), 1 + 0.5 (app + sidecar))
    spec["initContainers"][0] = {"name": "big", **requests("1")}
    assert nodeinfo.pod_requests(spec)[0] == 1500


# --- DisruptionTarget --------------------------------------------------------------------------


def test_the_taint_manager_marks_a_pod_before_deleting_it() -> None:
    status = nodelifecycle_plan.disruption_status({"status": {"phase": "Running"}})
    target = meta.get_condition({"status": status}, "DisruptionTarget")
    assert target is not None and target["reason"] == "DeletionByTaintManager"
    assert status["phase"] == "Running"
