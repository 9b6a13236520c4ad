"""The pod status, computed purely from the spec, the runtime's containers and what the worker
knows (why a container waits, what probes say, termination messages). The status manager
writes it when it changes.

Init containers get `initContainerStatuses` (a completed one is ready; a sidecar is ready
as its readiness probe says once started); while a pod has init containers, containers that
have not started wait with reason PodInitializing. A pod being terminated (deleted) gets its
final status as Kubernetes' status manager writes it: containers that never ran are
terminated with ContainerStatusUnknown, and the phase becomes Failed unless it is already
terminal. The phase and conditions are `phase`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from minik8s.api import defaults, times
from minik8s.api.meta import Object
from minik8s.kubelet import actions, init_plan, phase
from minik8s.kubelet.runtime import Container, State

TERMINAL_PHASES = phase.TERMINAL_PHASES
MAX_POD_TERMINATION_MESSAGES = 12 * 1024
"""Bytes of termination messages a pod's status holds in all, shared evenly by its
containers (Kubernetes' MaxPodTerminationMessageLogLength)."""
STATUS_UNKNOWN = "ContainerStatusUnknown"
STATUS_UNKNOWN_MESSAGE = "The container could not be located when the pod was terminated"


@dataclass
class PodView:
    """What the worker knows beyond the runtime's containers."""

    waiting: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Container name → (reason, message): ErrImagePull, CrashLoopBackOff, …"""
    readiness: Mapping[str, bool] = field(default_factory=dict)
    """Container name → last readiness probe result (absent: no readiness probe)."""
    startup: Mapping[str, bool] = field(default_factory=dict)
    """Container name → startup probe passed (absent: no startup probe)."""
    messages: Mapping[str, str] = field(default_factory=dict)
    """Container id → the termination message of that exited container."""
    terminal: bool = False
    """The pod is being terminated (deleted): this is its final status."""
    host_ip: str = ""
    now: Callable[[], str] = times.now_rfc3339


def host_network(pod: Object) -> bool:
    return (pod.get("spec") or {}).get("hostNetwork") is True


def terminated_state(c: Container, message: str = "") -> Object:
    code = c.exit_code if c.exit_code is not None else 0
    reason = "OOMKilled" if c.oom_killed else ("Completed" if code == 0 else "Error")
    state: Object = {"exitCode": code, "reason": reason, "containerID": f"docker://{c.id}"}
    if code > 128:
        state["signal"] = code - 128
    text = ": ".join(part for part in (c.error, message) if part)
    if text:
        state["message"] = text
    if c.started_at:
        state["startedAt"] = times.format_timestamp(c.started_at)
    if c.finished_at:
        state["finishedAt"] = times.format_timestamp(c.finished_at)
    return {"terminated": state}


def container_status(
    spec: Object,
    history: list[Container],
    view: PodView,
    default_waiting: str = "ContainerCreating",
) -> Object:
    name = spec["name"]
    latest = history[-1] if history else None
    previous = history[-2] if len(history) > 1 else None
    waiting = view.waiting.get(name)

    def ended(c: Container) -> Object:
        return terminated_state(c, view.messages.get(c.id, ""))

    last_state: Object = {}
    if latest is not None and latest.state is State.RUNNING:
        state: Object = {"running": {"startedAt": times.format_timestamp(latest.started_at or 0)}}
        if previous is not None and previous.state is State.EXITED:
            last_state = ended(previous)
    elif waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        if latest is not None and latest.state is State.EXITED:
            last_state = ended(latest)
    elif latest is not None and latest.state is State.EXITED:
        state = ended(latest)
        if previous is not None and previous.state is State.EXITED:
            last_state = ended(previous)
    else:
        state = {"waiting": {"reason": default_waiting}}
        if latest is not None and latest.attempt > 0 and previous is not None:
            last_state = ended(previous)
    running = "running" in state
    started = running and view.startup.get(name, True)
    status: Object = {
        "name": name,
        "state": state,
        "lastState": last_state,
        "ready": bool(started and view.readiness.get(name, True)),
        "restartCount": latest.attempt if latest is not None else 0,
        "image": str(spec.get("image") or ""),
        "imageID": latest.image_id if latest is not None else "",
        "started": started,
    }
    if latest is not None:
        status["containerID"] = f"docker://{latest.id}"
    return status


def init_container_status(
    spec: Object, history: list[Container], view: PodView, default_waiting: str
) -> Object:
    """A completed init container is ready; a sidecar as an app container."""
    status = container_status(spec, history, view, default_waiting)
    if not init_plan.is_sidecar(spec):
        terminated = status["state"].get("terminated")
        status["ready"] = bool(terminated is not None and terminated["exitCode"] == 0)
    return status


def _unknown_state() -> Object:
    return {
        "terminated": {
            "exitCode": 137,
            "reason": STATUS_UNKNOWN,
            "message": STATUS_UNKNOWN_MESSAGE,
        }
    }


def _ran(status: Object) -> bool:
    """Evidence that the container started once."""
    return "waiting" not in status["state"] or bool(status["lastState"].get("terminated"))


def _has_initialized(pod: Object, init_statuses: list[Object], statuses: list[Object]) -> bool:
    """Kubernetes' hasPodInitialized: an app container ran, or the last init container
    completed (or, a sidecar, started)."""
    inits = init_plan.init_containers(pod)
    if not inits or any(_ran(s) for s in statuses):
        return True
    if len(init_statuses) < len(inits):
        return False
    last, spec = init_statuses[-1], inits[-1]
    if init_plan.is_sidecar(spec):
        return "running" in last["state"] and bool(last.get("started"))
    ends = [last["state"].get("terminated"), last["lastState"].get("terminated")]
    return any(t is not None and t.get("exitCode") == 0 for t in ends)


def _finalize(pod: Object, init_statuses: list[Object], statuses: list[Object]) -> None:
    """A terminated pod's containers that never ran count as failed (Kubernetes'
    TerminatePod): app containers once the pod initialized, and init containers before the
    last one that ran."""
    if _has_initialized(pod, init_statuses, statuses):
        for status in statuses:
            if "terminated" not in status["state"]:
                status["state"] = _unknown_state()
    ran = [i for i, s in enumerate(init_statuses) if _ran(s)]
    for status in init_statuses[: ran[-1] + 1] if ran else []:
        if "terminated" not in status["state"]:
            status["state"] = _unknown_state()


def _keep_terminated(
    groups: Mapping[str, list[Container]], old: list[Object] | None, statuses: list[Object]
) -> None:
    """A container the runtime no longer has (removed after it ended) keeps the terminated
    status it last had, as Kubernetes' kubelet keeps it: its exit code and termination message
    are not lost when the kubelet syncs a finished pod again."""
    before = {s.get("name"): s for s in old or []}
    for i, status in enumerate(statuses):
        previous = before.get(status["name"])
        if groups.get(status["name"]) or previous is None:
            continue
        if (previous.get("state") or {}).get("terminated"):
            statuses[i] = {**previous, "ready": False, "started": False}


def _trim_messages(pod: Object, *groups: list[Object]) -> None:
    spec = pod.get("spec") or {}
    count = len(spec.get("containers") or []) + len(spec.get("initContainers") or [])
    budget = MAX_POD_TERMINATION_MESSAGES // max(1, count)
    for statuses in groups:
        for status in statuses:
            for state in (status["state"], status["lastState"]):
                terminated = (state or {}).get("terminated") or {}
                message = terminated.get("message")
                if message and len(message.encode()) > budget:
                    terminated["message"] = message.encode()[:budget].decode(errors="ignore")


def compute(pod: Object, containers: list[Container], view: PodView) -> Object:
    old = pod.get("status") or {}
    spec = pod.get("spec") or {}
    groups = actions.by_name(containers)
    sandboxes = groups.pop("POD", [])
    sandbox = sandboxes[-1] if sandboxes else None
    sandbox_ok = sandbox is not None and sandbox.state is State.RUNNING
    inits = init_plan.init_containers(pod)
    default_waiting = "PodInitializing" if inits else "ContainerCreating"
    init_statuses = [
        init_container_status(s, groups.get(s["name"], []), view, default_waiting) for s in inits
    ]
    statuses = [
        container_status(s, groups.get(s["name"], []), view, default_waiting)
        for s in spec.get("containers") or []
    ]
    _keep_terminated(groups, old.get("initContainerStatuses"), init_statuses)
    _keep_terminated(groups, old.get("containerStatuses"), statuses)
    if view.terminal:
        _finalize(pod, init_statuses, statuses)
    _trim_messages(pod, init_statuses, statuses)
    initialized = any("running" in s["state"] for s in statuses)
    pod_phase = phase.get_phase(pod, init_statuses, statuses, view.terminal, initialized)
    if old.get("phase") in TERMINAL_PHASES:
        pod_phase = str(old["phase"])  # never out of a terminal phase
    elif view.terminal and pod_phase not in TERMINAL_PHASES:
        pod_phase = "Failed"
    now = view.now()
    status: Object = {
        "phase": pod_phase,
        "conditions": phase.conditions(pod, init_statuses, statuses, pod_phase, sandbox_ok, now),
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": old.get("startTime") or now,
        "containerStatuses": statuses,
        "qosClass": old.get("qosClass") or defaults.qos_class(spec),
    }
    if inits:
        status["initContainerStatuses"] = init_statuses
    ephemeral = spec.get("ephemeralContainers") or []
    if ephemeral:  # never ready, never restarted (kubectl debug's containers)
        status["ephemeralContainerStatuses"] = [
            {**container_status(e, groups.get(e["name"], []), view), "ready": False}
            for e in ephemeral
        ]
    if pod_phase == old.get("phase"):  # the reason and message go with the phase
        status.update({k: old[k] for k in ("reason", "message") if old.get(k)})
    status.update({k: old[k] for k in ("nominatedNodeName", "resourceClaimStatuses") if old.get(k)})
    ip = sandbox.ip if sandbox_ok and sandbox is not None else None
    if sandbox_ok and host_network(pod):
        ip = view.host_ip  # a hostNetwork pod's IP is its node's, as in Kubernetes
    if not ip and pod_phase in TERMINAL_PHASES:
        ip = old.get("podIP")
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return status
