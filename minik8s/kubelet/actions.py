"""What one sync of a pod must do, decided purely from the spec and the runtime's containers.

Like Kubernetes' `computePodActions`: (re)create the sandbox when it is not running (killing
what runs without it), run the init containers and keep the sidecars running
(`init_plan`), then start app containers that never ran or may restart after their back-off,
kill those whose liveness failed, garbage-collect all but the current and previous container
of each name. Once the app containers are done (or an init container failed in a Never pod)
the pod is finished: what still runs (sidecars) is stopped, then the sandbox. The pod worker
carries the actions out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from minik8s.api.meta import Object
from minik8s.kubelet import init_plan, specs
from minik8s.kubelet.backoff import Backoff
from minik8s.kubelet.runtime import Container, State


@dataclass
class PodActions:
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    stop_sandbox: bool = False
    """The pod is finished (or the sandbox is being replaced): stop the old sandbox."""
    kill: dict[str, str] = field(default_factory=dict)
    """Container id → why it is killed (the Killing Event's message; "": the default one)."""
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


def app_containers_done(pod: Object, groups: dict[str, list[Container]]) -> bool:
    """Every app container has run and exited, and none will restart: the pod is finished
    (its sidecars are then stopped)."""
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
    started: Mapping[str, bool] | None = None,
) -> PodActions:
    """`started`: startup probe results by container name (absent: no startup probe)."""
    spec = pod.get("spec") or {}
    policy = specs.restart_policy(pod)
    groups = by_name(containers)
    sandboxes = groups.pop("POD", [])
    sandbox = sandboxes[-1] if sandboxes else None
    actions = PodActions()
    actions.remove = [s.id for s in sandboxes[:-1] if s.state is not State.RUNNING]
    for history in groups.values():
        actions.remove += [c.id for c in history[:-2] if c.state is not State.RUNNING]
    inits = init_plan.init_containers(pod)
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    spec_names = {c["name"] for c in [*inits, *(spec.get("containers") or [])]}
    spec_names.update(ephemeral)
    for name, history in groups.items():  # containers the spec no longer has
        if name not in spec_names:
            stray = f"Container {name} is not in the pod spec"
            actions.kill.update({c.id: stray for c in history if c.state is State.RUNNING})
    init = init_plan.plan(pod, groups, started, liveness_failed)
    sandbox_ok = sandbox is not None and sandbox.state is State.RUNNING
    never_again = (
        policy == "Never" and sandbox is not None and not sandbox_ok and any(groups.values())
    )  # a Never pod whose sandbox died is not started again
    if init.failed or never_again or (init.initialized and app_containers_done(pod, groups)):
        actions.terminal = True
        actions.stop_sandbox = sandbox_ok
        for history in groups.values():
            actions.kill.update({c.id: "pod finished" for c in history if c.state is State.RUNNING})
        return actions

    if not sandbox_ok:
        _replace_sandbox(pod, groups, sandbox, policy, actions)
        return actions

    actions.kill.update(init.kill)
    by_spec = {c["name"]: c for c in inits}
    for name in init.start:
        _start_or_back_off(pod, by_spec[name], groups.get(name) or [], backoff, now, actions)
    if init.initialized:
        for container in spec.get("containers") or []:
            _app_container(pod, container, groups, backoff, now, liveness_failed, actions)
    # Ephemeral containers (kubectl debug) start once, into the running sandbox (initialized
    # or not, as Kubernetes does), and never restart.
    actions.start += [(name, 0, False) for name in ephemeral if not groups.get(name)]
    # A container about to be replaced becomes the "previous" one: older ones can go now.
    for name, _, _ in actions.start:
        for old in (groups.get(name) or [])[:-1]:
            if old.state is not State.RUNNING and old.id not in actions.remove:
                actions.remove.append(old.id)
    return actions


def _replace_sandbox(
    pod: Object,
    groups: dict[str, list[Container]],
    sandbox: Container | None,
    policy: str,
    actions: PodActions,
) -> None:
    """A new sandbox: what ran in the old one is killed; init containers run again from the
    first (the old ones are removed, so they do not count as done), else the app containers
    start again as their policy allows."""
    actions.create_sandbox = True
    actions.sandbox_attempt = sandbox.attempt + 1 if sandbox is not None else 0
    for history in groups.values():
        actions.kill.update({c.id: "" for c in history if c.state is State.RUNNING})
    inits = init_plan.init_containers(pod)
    if inits:
        for init in inits:
            actions.remove += [c.id for c in groups.get(init["name"]) or []]
        first = groups.get(inits[0]["name"]) or []
        actions.start.append((inits[0]["name"], first[-1].attempt + 1 if first else 0, False))
        return
    for container in (pod.get("spec") or {}).get("containers") or []:
        history = groups.get(container["name"]) or []
        latest = history[-1] if history else None
        if latest is None:
            actions.start.append((container["name"], 0, False))
        elif latest.state is State.RUNNING or should_restart(policy, latest.exit_code):
            actions.start.append((container["name"], latest.attempt + 1, False))


def _start_or_back_off(
    pod: Object,
    container: Object,
    history: list[Container],
    backoff: Backoff,
    now: float,
    actions: PodActions,
) -> None:
    """Start a container that should run: at once the first time, after its back-off
    (CrashLoopBackOff) when it ran and exited before."""
    name = container["name"]
    latest = history[-1] if history else None
    if latest is None:
        actions.start.append((name, 0, False))
    elif latest.state is State.RUNNING:
        return  # being killed: it starts again once it has exited
    elif latest.state is State.EXITED:
        uid, meta = specs.pod_uid(pod), pod.get("metadata") or {}
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
    else:  # created but never started, or unknown: replace it
        actions.remove.append(latest.id)
        actions.start.append((name, latest.attempt + 1, False))


def _app_container(
    pod: Object,
    container: Object,
    groups: dict[str, list[Container]],
    backoff: Backoff,
    now: float,
    liveness_failed: frozenset[str],
    actions: PodActions,
) -> None:
    name = container["name"]
    history = groups.get(name) or []
    latest = history[-1] if history else None
    if latest is not None and latest.state is State.RUNNING:
        if name in liveness_failed:
            actions.kill[latest.id] = f"Container {name} failed liveness probe, will be restarted"
        return
    if latest is not None and latest.state is State.EXITED:
        if not should_restart(specs.restart_policy(pod), latest.exit_code):
            return
    _start_or_back_off(pod, container, history, backoff, now, actions)
