"""The kubelet's pure decisions: back-off, actions, status, specs, probes, PLEG, node."""

from __future__ import annotations

import pytest

from minik8s.kubelet import actions, config, node, pleg, specs
from minik8s.kubelet import status as podstatus
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.probes import Kind, ProbeTracker, resolve_port
from minik8s.kubelet.runtime import Container, State

UID = "uid-1"


def make_pod(*names: str, policy: str = "Always", **spec: object) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": UID},
        "spec": {
            "restartPolicy": policy,
            "containers": [{"name": n, "image": "img"} for n in names],
            **spec,
        },
    }


def ctr(
    name: str,
    state: State,
    attempt: int = 0,
    code: int | None = None,
    finished: float | None = None,
    ip: str | None = None,
) -> Container:
    labels = {"minik8s.pod-uid": UID, "minik8s.container": name, "minik8s.attempt": str(attempt)}
    return Container(
        id=f"{name}-{attempt}",
        name=name,
        labels=labels,
        image="img",
        image_id="sha256:x",
        state=state,
        exit_code=code,
        started_at=100.0,
        finished_at=finished,
        ip=ip,
    )


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_to_the_cap_and_resets_after_twice_the_cap() -> None:
    b = Backoff(10, 300)
    assert [b.next("k", t) for t in (0, 1, 2, 3, 4, 5, 6)] == [10, 20, 40, 80, 160, 300, 300]
    assert b.remaining("k", since=6, now=100) == 206
    assert b.next("k", 6 + 601) == 10  # untouched for 10 minutes: forgotten


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 1, False),
        ("Never", 0, False),
    ],
)
def test_should_restart(policy: str, code: int, restart: bool) -> None:
    assert actions.should_restart(policy, code) is restart


# --- actions -------------------------------------------------------------------------------


def test_a_new_pod_creates_its_sandbox_and_starts_every_container() -> None:
    plan = actions.compute(make_pod("a", "b"), [], Backoff(), now=1000)
    assert plan.create_sandbox and plan.sandbox_attempt == 0
    assert plan.start == [("a", 0, False), ("b", 0, False)]


def test_a_running_pod_needs_nothing() -> None:
    running = [ctr("POD", State.RUNNING, ip="10.0.0.2"), ctr("a", State.RUNNING)]
    plan = actions.compute(make_pod("a"), running, Backoff(), now=1000)
    assert not (plan.create_sandbox or plan.start or plan.kill or plan.remove)


def test_crash_restarts_at_once_then_waits_in_crashloopbackoff() -> None:
    backoff = Backoff(10, 300)
    crashed = [ctr("POD", State.RUNNING), ctr("a", State.EXITED, 0, code=1, finished=1000)]
    plan = actions.compute(make_pod("a"), crashed, backoff, now=1000.5)
    assert plan.start == [("a", 1, True)]
    backoff.next(actions.backoff_key(UID, "a"), 1000.5)
    crashed = [ctr("POD", State.RUNNING), ctr("a", State.EXITED, 1, code=1, finished=1001)]
    plan = actions.compute(make_pod("a"), crashed, backoff, now=1002)
    assert plan.start == [] and plan.waiting["a"][0] == "CrashLoopBackOff"
    assert plan.requeue_after == pytest.approx(9)
    assert actions.compute(make_pod("a"), crashed, backoff, now=1011.5).start == [("a", 2, True)]


def test_liveness_failure_kills_and_sandbox_loss_restarts_everything() -> None:
    running = [ctr("POD", State.RUNNING), ctr("a", State.RUNNING)]
    plan = actions.compute(make_pod("a"), running, Backoff(), 1000, frozenset({"a"}))
    assert plan.kill == {"a-0": "Container a failed liveness probe, will be restarted"}
    dead_sandbox = [ctr("POD", State.EXITED, code=0), ctr("a", State.RUNNING)]
    plan = actions.compute(make_pod("a"), dead_sandbox, Backoff(), 1000)
    assert plan.create_sandbox and plan.sandbox_attempt == 1
    assert plan.kill == {"a-0": ""} and plan.start == [("a", 1, False)]


@pytest.mark.parametrize(
    ("policy", "code", "terminal"),
    [("Never", 1, True), ("OnFailure", 0, True), ("OnFailure", 1, False), ("Always", 0, False)],
)
def test_terminal_pods_stop_their_sandbox(policy: str, code: int, terminal: bool) -> None:
    done = [ctr("POD", State.RUNNING), ctr("a", State.EXITED, code=code, finished=1)]
    plan = actions.compute(make_pod("a", policy=policy), done, Backoff(), 1000)
    assert plan.terminal is terminal and plan.stop_sandbox is terminal


def test_old_containers_are_garbage_collected_keeping_the_previous_one() -> None:
    history = [ctr("POD", State.RUNNING)] + [
        ctr("a", State.EXITED, i, code=1, finished=i) for i in range(3)
    ]
    plan = actions.compute(make_pod("a"), history, Backoff(), 1000)
    assert sorted(plan.remove) == ["a-0", "a-1"] and plan.start == [("a", 3, True)]


# --- status --------------------------------------------------------------------------------


def view(**kw: object) -> podstatus.PodView:
    return podstatus.PodView(host_ip="127.0.0.1", now=lambda: "T", **kw)  # type: ignore[arg-type]


def test_status_of_a_running_ready_pod() -> None:
    running = [ctr("POD", State.RUNNING, ip="10.244.0.9"), ctr("a", State.RUNNING)]
    s = podstatus.compute(make_pod("a"), running, view())
    assert s["phase"] == "Running" and s["podIP"] == "10.244.0.9" and s["hostIP"] == "127.0.0.1"
    cond = {c["type"]: c["status"] for c in s["conditions"]}
    assert cond == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    a = s["containerStatuses"][0]
    assert a["ready"] and a["containerID"] == "docker://a-0" and "running" in a["state"]
    assert s["qosClass"] == "BestEffort"


@pytest.mark.parametrize(
    ("containers", "waiting", "policy", "phase"),
    [
        ([], {}, "Always", "Pending"),
        ([ctr("POD", State.RUNNING)], {"a": ("ErrImagePull", "x")}, "Always", "Pending"),
        ([ctr("a", State.EXITED, code=0, finished=1)], {}, "Never", "Succeeded"),
        ([ctr("a", State.EXITED, code=1, finished=1)], {}, "Never", "Failed"),
        (
            [ctr("a", State.EXITED, code=1, finished=1)],
            {"a": ("CrashLoopBackOff", "")},
            "Always",
            "Running",
        ),
    ],
)
def test_phase(containers: list[Container], waiting: dict, policy: str, phase: str) -> None:
    s = podstatus.compute(make_pod("a", policy=policy), containers, view(waiting=waiting))
    assert s["phase"] == phase


def test_readiness_probe_and_transition_times() -> None:
    running = [ctr("POD", State.RUNNING, ip="1.2.3.4"), ctr("a", State.RUNNING)]
    pod = make_pod("a")
    s = podstatus.compute(pod, running, view(readiness={"a": False}))
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    pod["status"] = s
    again = podstatus.compute(
        pod,
        running,
        podstatus.PodView(readiness={"a": False}, now=lambda: "U", host_ip="127.0.0.1"),
    )
    assert again == s, "unchanged status keeps its transition times: no write"


def test_crashloop_status_shows_last_state() -> None:
    history = [ctr("POD", State.RUNNING), ctr("a", State.EXITED, 2, code=3, finished=5)]
    s = podstatus.compute(make_pod("a"), history, view(waiting={"a": ("CrashLoopBackOff", "m")}))
    a = s["containerStatuses"][0]
    assert a["state"]["waiting"]["reason"] == "CrashLoopBackOff" and a["restartCount"] == 2
    assert a["lastState"]["terminated"]["exitCode"] == 3


# --- specs ---------------------------------------------------------------------------------


def test_container_config_env_fieldref_expansion_limits_and_mounts() -> None:
    pod = make_pod("a")
    c = {
        "name": "a",
        "image": "busybox",
        "command": ["echo", "$(NAME)", "$$(NAME)"],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
        ],
        "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}},
        "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": True}],
    }
    cfg = specs.container_config(
        pod,
        c,
        node="n1",
        attempt=2,
        sandbox_id="sb",
        pod_ip="10.0.0.1",
        host_ip="127.0.0.1",
        volume_paths={"v": "/host/v"},
        configmaps={"cm": {"data": {"k": "val"}}},
    )
    assert cfg.env == {"NAME": "p", "IP": "10.0.0.1", "CM": "val"}
    assert cfg.entrypoint == ["echo", "p", "$(NAME)"]
    assert (cfg.nano_cpus, cfg.mem_limit) == (250_000_000, 1024**3)
    assert cfg.network_mode == "container:sb" and cfg.name == "k8s_a_p_ns_uid-1_2"
    assert cfg.labels["minik8s.node"] == "n1" and cfg.labels["minik8s.attempt"] == "2"
    assert cfg.mounts[0].source == "/host/v" and cfg.mounts[0].read_only
    with pytest.raises(specs.ConfigError):
        specs.container_config(
            pod,
            c,
            node="n1",
            attempt=0,
            sandbox_id="sb",
            pod_ip="",
            host_ip="",
            volume_paths={"v": "/x"},
            configmaps={},
        )


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("127.0.0.1:5000/app", "Always"),
        ("127.0.0.1:5000/app:v1", "IfNotPresent"),
        ("app@sha256:abc", "IfNotPresent"),
    ],
)
def test_pull_policy_defaults(image: str, policy: str) -> None:
    assert specs.pull_policy({"image": image}) == policy


# --- probes, pleg, node, config ------------------------------------------------------------


def test_probe_thresholds() -> None:
    readiness = ProbeTracker(Kind.READINESS, success_threshold=2, failure_threshold=2)
    assert [readiness.observe(ok) for ok in (True, True, False, False, True)] == [
        False,
        True,
        False,
        True,
        False,
    ]
    liveness = ProbeTracker(Kind.LIVENESS, failure_threshold=3)
    assert [liveness.observe(False) for _ in range(3)] == [False, False, True]
    assert liveness.result is False


def test_probe_ports() -> None:
    container = {"name": "a", "ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port("http", container) == 8080 and resolve_port(80, container) == 80


def test_pleg_changed_pods() -> None:
    before = {"c1": ("u1", State.RUNNING), "c2": ("u2", State.RUNNING), "c3": ("u3", State.RUNNING)}
    after = {"c1": ("u1", State.RUNNING), "c2": ("u2", State.EXITED), "c4": ("u4", State.RUNNING)}
    assert pleg.changed_pods(before, after) == {"u2", "u3", "u4"}


def test_node_conditions_keep_transition_times() -> None:
    first = node.node_conditions(node.Pressure(), True, [], "T1")
    assert {c["type"]: c["status"] for c in first} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    second = node.node_conditions(node.Pressure(memory=True), True, first, "T2")
    memory = next(c for c in second if c["type"] == "MemoryPressure")
    ready = next(c for c in second if c["type"] == "Ready")
    assert memory["lastTransitionTime"] == "T2" and ready["lastTransitionTime"] == "T1"
    assert ready["lastHeartbeatTime"] == "T2"


def test_taints_and_flags() -> None:
    assert config.parse_taint("dedicated=gpu:NoSchedule").to_dict() == {
        "key": "dedicated",
        "value": "gpu",
        "effect": "NoSchedule",
    }
    assert config.parse_taint("x:NoExecute").to_dict() == {"key": "x", "effect": "NoExecute"}
    with pytest.raises(ValueError):
        config.parse_taint("bad")
    s = config.parse_args(
        [
            "--node-name",
            "n",
            "--register-with-taints",
            "a=b:NoSchedule",
            "--cpu",
            "2",
            "--memory",
            "4Gi",
            "--runtime",
            "fake",
        ]
    )
    assert s.node_name == "n" and s.runtime == "fake" and len(s.register_with_taints) == 1


def test_an_external_cloud_provider_node_registers_tainted_with_its_node_ip() -> None:
    """`--cloud-provider=external`: the cloud controller manager initializes the Node."""
    from minik8s.kubelet.runtime.fake import FakeRuntime

    flags = ["--node-name", "n", "--node-ip", "10.1.2.3", "--register-with-taints",
             "a=b:NoSchedule", "--cloud-provider", "external"]  # fmt: skip
    settings = config.parse_args(flags)
    agent = node.NodeAgent(settings, client=None, runtime=FakeRuntime())  # type: ignore[arg-type]
    wanted = agent._node_object()
    assert wanted["spec"]["taints"] == [
        {"key": "a", "value": "b", "effect": "NoSchedule"},
        {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true",
         "effect": "NoSchedule"},
    ]  # fmt: skip
    assert wanted["metadata"]["annotations"] == {"alpha.kubernetes.io/provided-node-ip": "10.1.2.3"}
    plain = node.NodeAgent(config.parse_args(["--node-name", "n"]), None, FakeRuntime())  # type: ignore[arg-type]
    assert "taints" not in plain._node_object()["spec"]


def test_conditions_differ_ignores_times_but_not_what_another_component_wrote() -> None:
    ready = node.node_conditions(node.Pressure(), True, [], "2026-01-01T00:00:00Z")
    later = node.node_conditions(node.Pressure(), True, ready, "2026-01-01T00:00:10Z")
    assert not node.conditions_differ(later, ready)  # heartbeats only
    unknown = [
        {**c, "status": "Unknown", "reason": "NodeStatusUnknown"} if c["type"] == "Ready" else c
        for c in ready
    ]  # the node lifecycle controller's mark
    assert node.conditions_differ(later, unknown)
    assert node.conditions_differ(later, ready[:-1])  # a condition missing
