"""What one sync of a pod must do, decided purely from the spec and the runtime's containers.

Like Kubernetes' `computePodActions`: (re)create the sandbox when it is not running (killing
what runs without it), start containers that never ran or may restart after their back-off,
kill those whose liveness failed, garbage-collect all but the current and previous container
of each name. The pod worker carries the actions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minik8s.api.meta import Object
from minik8s.kubelet import specs
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.runtime import Container, State


@dataclass
class PodActions:
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    stop_sandbox: bool = False
    """The pod is finished (or the sandbox is being replaced): stop the old sandbox."""
    kill: dict[str, str] = field(default_factory=dict)
    """Container id → why it is killed."""
    start: list[tuple[str, int, bool]] = field(default_factory=list)
    """(container name, attempt, is a restart that counts against the back-off)."""
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Container name → (reason, message) while it waits (CrashLoopBackOff)."""
    remove: list[str] = field(default_factory=list)
    """Ids of old exited containers to garbage-collect."""
    requeue_after: float | None = None
    terminal: bool = False


def backoff_key(uid: str, name: str) -> str:
    return f"{uid}/{name}"


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def by_name(containers: list[Container]) -> dict[str, list[Container]]:
    """Containers of one pod grouped by their pod container name, oldest attempt first."""
    groups: dict[str, list[Container]] = {}
    for c in sorted(containers, key=lambda c: (c.attempt, c.started_at or 0.0)):
        groups.setdefault(c.container_name, []).append(c)
    return groups


def is_terminal(pod: Object, groups: dict[str, list[Container]]) -> bool:
    """Every container has run and exited, and none will restart."""
    policy = specs.restart_policy(pod)
    for spec in (pod.get("spec") or {}).get("containers") or []:
        history = groups.get(spec["name"])
        if not history or history[-1].state is not State.EXITED:
            return False
        if should_restart(policy, history[-1].exit_code):
            return False
    return True


def compute(
    pod: Object,
    containers: list[Container],
    backoff: Backoff,
    now: float,
    liveness_failed: frozenset[str] = frozenset(),
) -> PodActions:
    uid = specs.pod_uid(pod)
    meta = pod.get("metadata") or {}
    policy = specs.restart_policy(pod)
    groups = by_name(containers)
    sandboxes = groups.pop("POD", [])
    sandbox = sandboxes[-1] if sandboxes else None
    actions = PodActions()
    actions.remove = [s.id for s in sandboxes[:-1] if s.state is not State.RUNNING]
    for history in groups.values():
        actions.remove += [c.id for c in history[:-2] if c.state is not State.RUNNING]
    spec_names = {c["name"] for c in (pod.get("spec") or {}).get("containers") or []}
    for name, history in groups.items():  # containers the spec no longer has
        if name not in spec_names:
            actions.kill.update(
                {c.id: "not in the pod spec" for c in history if c.state is State.RUNNING}
            )

    if is_terminal(pod, groups):
        actions.terminal = True
        actions.stop_sandbox = sandbox is not None and sandbox.state is State.RUNNING
        return actions

    sandbox_ok = sandbox is not None and sandbox.state is State.RUNNING
    if not sandbox_ok:
        actions.create_sandbox = True
        actions.sandbox_attempt = sandbox.attempt + 1 if sandbox is not None else 0
        for history in groups.values():
            actions.kill.update(
                {c.id: "the pod sandbox changed" for c in history if c.state is State.RUNNING}
            )

    for spec in (pod.get("spec") or {}).get("containers") or []:
        name = spec["name"]
        history = groups.get(name) or []
        latest = history[-1] if history else None
        if latest is None:
            actions.start.append((name, 0, False))
            continue
        if latest.state is State.RUNNING and sandbox_ok:
            if name in liveness_failed:
                actions.kill[latest.id] = "failed liveness probe"
            continue
        if latest.state is State.RUNNING or not sandbox_ok:
            # Its sandbox is being replaced: it restarts with it, as its policy allows.
            if latest.state is State.RUNNING or should_restart(policy, latest.exit_code):
                actions.start.append((name, latest.attempt + 1, False))
            continue
        if latest.state is State.CREATED:
            actions.remove.append(latest.id)
            actions.start.append((name, latest.attempt + 1, False))
            continue
        if not should_restart(policy, latest.exit_code):
            continue
        key = backoff_key(uid, name)
        remaining = backoff.remaining(key, latest.finished_at or now, now)
        if remaining > 0:
            delay = backoff.delay(key, now)
            actions.waiting[name] = (
                "CrashLoopBackOff",
                f"back-off {delay:.0f}s restarting failed container={name} "
                f"pod={meta.get('name')}_{meta.get('namespace')}({uid})",
            )
            actions.requeue_after = min(actions.requeue_after or remaining, remaining)
        else:
            actions.start.append((name, latest.attempt + 1, True))
    # A container about to be replaced becomes the "previous" one: older ones can go now.
    for name, _, _ in actions.start:
        for old in (groups.get(name) or [])[:-1]:
            if old.state is not State.RUNNING and old.id not in actions.remove:
                actions.remove.append(old.id)
    return actions
