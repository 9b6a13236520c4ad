"""The pod status, computed purely from the spec, the runtime's containers and what the worker
knows (why a container waits, what probes say). The status manager writes it when it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from minik8s.api import times
from minik8s.api.meta import Object
from minik8s.kubelet import actions, specs
from minik8s.kubelet.runtime import Container, State

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass
class PodView:
    """What the worker knows beyond the runtime's containers."""

    waiting: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Container name → (reason, message): ErrImagePull, CrashLoopBackOff, …"""
    readiness: Mapping[str, bool] = field(default_factory=dict)
    """Container name → last readiness probe result (absent: no readiness probe)."""
    startup: Mapping[str, bool] = field(default_factory=dict)
    """Container name → startup probe passed (absent: no startup probe)."""
    host_ip: str = ""
    now: Callable[[], str] = times.now_rfc3339


def host_network(pod: Object) -> bool:
    return (pod.get("spec") or {}).get("hostNetwork") is True


def terminated_state(c: Container) -> Object:
    code = c.exit_code if c.exit_code is not None else 0
    reason = "OOMKilled" if c.oom_killed else ("Completed" if code == 0 else "Error")
    state: Object = {"exitCode": code, "reason": reason, "containerID": f"docker://{c.id}"}
    if code > 128:
        state["signal"] = code - 128
    if c.error:
        state["message"] = c.error
    if c.started_at:
        state["startedAt"] = times.format_timestamp(c.started_at)
    if c.finished_at:
        state["finishedAt"] = times.format_timestamp(c.finished_at)
    return {"terminated": state}


def container_status(spec: Object, history: list[Container], view: PodView) -> Object:
    name = spec["name"]
    latest = history[-1] if history else None
    previous = history[-2] if len(history) > 1 else None
    waiting = view.waiting.get(name)
    last_state: Object = {}
    if latest is not None and latest.state is State.RUNNING:
        state: Object = {"running": {"startedAt": times.format_timestamp(latest.started_at or 0)}}
        if previous is not None and previous.state is State.EXITED:
            last_state = terminated_state(previous)
    elif waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        if latest is not None and latest.state is State.EXITED:
            last_state = terminated_state(latest)
    elif latest is not None and latest.state is State.EXITED:
        state = terminated_state(latest)
        if previous is not None and previous.state is State.EXITED:
            last_state = terminated_state(previous)
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
        if latest is not None and latest.attempt > 0 and previous is not None:
            last_state = terminated_state(previous)
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


def phase(pod: Object, statuses: list[Object]) -> str:
    """Kubernetes' getPhase over the container statuses."""
    old = (pod.get("status") or {}).get("phase")
    if old in TERMINAL_PHASES:
        return str(old)
    waiting = running = stopped = succeeded = 0
    for s in statuses:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif s["lastState"].get("terminated"):
            stopped += 1
            succeeded += s["lastState"]["terminated"]["exitCode"] == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        policy = specs.restart_policy(pod)
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def qos_class(pod: Object) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    requests_any = limits_all = False
    limits_all = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            requests_any = True
        if not all(k in lim for k in ("cpu", "memory")):
            limits_all = False
        elif any(k in req and str(req[k]) != str(lim[k]) for k in ("cpu", "memory")):
            limits_all = False
    if limits_all:
        return "Guaranteed"
    return "Burstable" if requests_any else "BestEffort"


def _condition(
    kind: str, ok: bool, old: Mapping[str, Object], now: str, reason: str = "", message: str = ""
) -> Object:
    status = "True" if ok else "False"
    previous = old.get(kind)
    since = (
        previous.get("lastTransitionTime")
        if previous and previous.get("status") == status
        else None
    )
    cond: Object = {"type": kind, "status": status, "lastTransitionTime": since or now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def compute(pod: Object, containers: list[Container], view: PodView) -> Object:
    old = pod.get("status") or {}
    groups = actions.by_name(containers)
    sandboxes = groups.pop("POD", [])
    sandbox = sandboxes[-1] if sandboxes else None
    specs_ = (pod.get("spec") or {}).get("containers") or []
    statuses = [container_status(s, groups.get(s["name"], []), view) for s in specs_]
    pod_phase = phase(pod, statuses)
    now = view.now()
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    unready = [s["name"] for s in statuses if not s["ready"]]
    terminal = pod_phase in TERMINAL_PHASES
    if terminal:
        reason, message = "PodCompleted", ""
    elif unready:
        reason, message = (
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        )
    else:
        reason = message = ""
    ready = not unready and not terminal
    conditions = [
        _condition("Initialized", True, old_conditions, now),
        _condition("Ready", ready, old_conditions, now, reason, message),
        _condition("ContainersReady", ready, old_conditions, now, reason, message),
        _condition("PodScheduled", True, old_conditions, now),
    ]
    status: Object = {
        "phase": pod_phase,
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": old.get("startTime") or now,
        "containerStatuses": statuses,
        "qosClass": qos_class(pod),
    }
    ip = sandbox.ip if sandbox is not None and sandbox.state is State.RUNNING else None
    if sandbox is not None and sandbox.state is State.RUNNING and host_network(pod):
        ip = view.host_ip  # a hostNetwork pod's IP is its node's, as in Kubernetes
    if not ip and terminal:
        ip = old.get("podIP")
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return status
