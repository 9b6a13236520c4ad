"""The pod's phase and the conditions the kubelet owns, pure, from the container statuses.

As Kubernetes' kubelet: `getPhase` (init containers, sidecars, the restart policy, and a
pod being terminated, which ends Failed unless all its app containers succeeded) and the
condition generators of `pkg/kubelet/status` (PodReadyToStartContainers, Initialized,
Ready with readiness gates, ContainersReady, PodScheduled). Conditions the kubelet does not
own (DisruptionTarget, a readiness gate's, …) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from minik8s.api import podutil
from minik8s.api.meta import Object
from minik8s.kubelet import init_plan

TERMINAL_PHASES = podutil.TERMINAL_PHASES
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)
"""The pod conditions the kubelet writes; the others are kept as they are."""


def _status_of(statuses: list[Object], name: str) -> Object | None:
    return next((s for s in statuses if s.get("name") == name), None)


def _exit_code(status: Object) -> int | None:
    """The exit code of a terminated init container (or of its last run while it waits)."""
    terminated = status["state"].get("terminated")
    if terminated is None and "waiting" in status["state"]:
        terminated = (status.get("lastState") or {}).get("terminated")
    return None if terminated is None else int(terminated.get("exitCode", 0))


def get_phase(
    pod: Object,
    init_statuses: list[Object],
    statuses: list[Object],
    terminal: bool = False,
    initialized: bool = False,
) -> str:
    """Kubernetes' getPhase. `terminal`: the pod is being terminated, its containers will not
    restart whatever the policy; `initialized`: an app container has started."""
    spec = pod.get("spec") or {}
    policy = str(spec.get("restartPolicy") or "Always")
    pending_init = pending_sidecars = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for container in spec.get("initContainers") or []:
        status = _status_of(init_statuses, container["name"])
        sidecar = init_plan.is_sidecar(container)
        if status is None:
            if sidecar:
                unknown += 1
            else:
                pending_init += 1
            continue
        state = status["state"]
        if sidecar:
            if "running" in state:
                pending_sidecars += 0 if status.get("started") else 1
                running += 1
            elif "waiting" in state and not (status.get("lastState") or {}).get("terminated"):
                pending_sidecars += 1
                waiting += 1
            continue  # a stopped sidecar does not count for the phase
        code = _exit_code(status)
        if "running" in state or code is None:
            pending_init += 1
        elif code != 0:
            failed_init += 1
    for container in spec.get("containers") or []:
        status = _status_of(statuses, container["name"])
        if status is None:
            unknown += 1
            continue
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif (status.get("lastState") or {}).get("terminated"):
            stopped += 1  # waiting to restart
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or (pending_sidecars and not initialized) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


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


def _names(names: list[str]) -> str:
    """A list as Go's `%s` prints a slice of strings: `[a b]`."""
    return f"[{' '.join(names)}]"


def _initialized(
    pod: Object, init_statuses: list[Object], statuses: list[Object], phase: str
) -> tuple[bool, str, str]:
    unknown: list[str] = []
    incomplete: list[str] = []
    for container in init_plan.init_containers(pod):
        status = _status_of(init_statuses, container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not (
            status.get("started") if init_plan.is_sidecar(container) else status.get("ready")
        ):
            incomplete.append(container["name"])
    if phase == "Succeeded" and not unknown:
        return True, "PodCompleted", ""
    if any("running" in s["state"] or "terminated" in s["state"] for s in statuses):
        return True, "", ""  # an app container has run: initialized before
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return False, "ContainersNotInitialized", ", ".join(messages)
    return True, "", ""


def _containers_ready(
    pod: Object, init_statuses: list[Object], statuses: list[Object], phase: str
) -> tuple[bool, str, str]:
    unknown: list[str] = []
    unready: list[str] = []
    for container in init_plan.sidecars(pod):
        status = _status_of(init_statuses, container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not status.get("ready"):
            unready.append(container["name"])
    for container in (pod.get("spec") or {}).get("containers") or []:
        status = _status_of(statuses, container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not status.get("ready"):
            unready.append(container["name"])
    if phase == "Succeeded" and not unknown:
        return False, "PodCompleted", ""
    if phase == "Failed":
        return False, "PodFailed", ""
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return False, "ContainersNotReady", ", ".join(messages)
    return True, "", ""


def _gates_ready(pod: Object, kept: list[Object]) -> tuple[bool, str, str]:
    """The pod's readiness gates: each names a condition that must be True."""
    by_type = {c.get("type"): c for c in kept}
    messages = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        kind = gate.get("conditionType")
        condition = by_type.get(kind)
        if condition is None:
            messages.append(
                f'corresponding condition of pod readiness gate "{kind}" does not exist.'
            )
        elif condition.get("status") != "True":
            messages.append(
                f'the status of pod readiness gate "{kind}" is not "True", but '
                f"{condition.get('status')}"
            )
    if messages:
        return False, "ReadinessGatesNotReady", ", ".join(messages)
    return True, "", ""


def conditions(
    pod: Object,
    init_statuses: list[Object],
    statuses: list[Object],
    phase: str,
    sandbox_ready: bool,
    now: str,
) -> list[Object]:
    """The pod's conditions: those the kubelet does not own as they are, then its own."""
    old_list = (pod.get("status") or {}).get("conditions") or []
    old = {c.get("type"): c for c in old_list}
    kept = [c for c in old_list if c.get("type") not in KUBELET_CONDITIONS]
    init_ok, init_reason, init_message = _initialized(pod, init_statuses, statuses, phase)
    ready = _containers_ready(pod, init_statuses, statuses, phase)
    pod_ready = ready if not ready[0] else _gates_ready(pod, kept)
    return [
        *kept,
        _condition("PodReadyToStartContainers", sandbox_ready, old, now),
        _condition("Initialized", init_ok, old, now, init_reason, init_message),
        _condition("Ready", pod_ready[0], old, now, pod_ready[1], pod_ready[2]),
        _condition("ContainersReady", ready[0], old, now, ready[1], ready[2]),
        _condition("PodScheduled", True, old, now),
    ]
