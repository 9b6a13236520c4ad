"""Init containers and sidecars, decided purely from the spec and the runtime's containers.

As Kubernetes' kubelet (`computeInitContainerActions`, SidecarContainers on, as in 1.32):
init containers run in order, each to completion before the next starts; a failed one is
run again (the back-off is the worker's) unless the pod's `restartPolicy` is Never, which
fails the pod. An init container with `restartPolicy: Always` is a sidecar: once started
(its startup probe passed, if it has one) the next init container starts, and it keeps
running beside the app containers, restarted whenever it exits. The pod is initialized once
the last init container has completed (or, for a sidecar, started), or as soon as an app
container is running: init containers that already ran are then never run again, while
sidecars are kept running.

The init containers are walked from the last to the first: the runtime may have lost old
init containers, so the latest one that ran says how far initialization got.

When the pod stops (deleted, or its app containers are done), sidecars stop last: each
waits for every app container and every later sidecar (`termination_prereqs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from minik8s.api.meta import Object
from minik8s.kubelet.runtime import Container, State


def is_sidecar(container: Object | None) -> bool:
    """A restartable init container (`restartPolicy: Always`)."""
    return container is not None and container.get("restartPolicy") == "Always"


def init_containers(pod: Object) -> list[Object]:
    return list((pod.get("spec") or {}).get("initContainers") or [])


def sidecars(pod: Object) -> list[Object]:
    return [c for c in init_containers(pod) if is_sidecar(c)]


@dataclass
class InitActions:
    start: list[str] = field(default_factory=list)
    """Init containers to (re)start now, in spec order."""
    kill: dict[str, str] = field(default_factory=dict)
    """Container id → why it is killed (a sidecar whose liveness probe failed)."""
    initialized: bool = False
    """The app containers may run."""
    failed: bool = False
    """An init container failed and the pod's restartPolicy is Never: the pod fails."""


def initialized_before(pod: Object, groups: Mapping[str, list[Container]]) -> bool:
    """An app container was created or is running: the pod was initialized (exited ones do
    not count: they may be from a sandbox that is gone)."""
    for spec in (pod.get("spec") or {}).get("containers") or []:
        history = groups.get(spec["name"]) or []
        if history and history[-1].state in (State.CREATED, State.RUNNING):
            return True
    return False


def plan(
    pod: Object,
    groups: Mapping[str, list[Container]],
    started: Mapping[str, bool] | None = None,
    liveness_failed: Iterable[str] = (),
) -> InitActions:
    """What to do with the init containers; `started`: a sidecar's startup probe result
    (absent: no startup probe); `liveness_failed`: sidecars whose liveness probe failed."""
    inits = init_containers(pod)
    actions = InitActions(initialized=True)
    if not inits:
        return actions
    started = started or {}
    failing = set(liveness_failed)
    restart_on_failure = str((pod.get("spec") or {}).get("restartPolicy") or "Always") != "Never"
    actions.initialized = initialized_before(pod, groups)
    previously = actions.initialized
    last = len(inits) - 1
    to_start: list[int] = []
    for i in range(last, -1, -1):
        spec = inits[i]
        name, sidecar = spec["name"], is_sidecar(spec)
        history = groups.get(name) or []
        latest = history[-1] if history else None
        if latest is None:
            if previously and sidecar:
                to_start.append(i)  # a sidecar lost from the runtime: run it again
            continue
        if previously and not sidecar:
            continue  # done long ago: never run again
        if latest.state is State.CREATED:
            to_start.append(i)  # created but never started: try again
        elif latest.state is State.RUNNING:
            if sidecar and started.get(name, True):
                if i == last:
                    actions.initialized = True
                elif not previously:
                    to_start.append(i + 1)
                if name in failing:
                    actions.kill[latest.id] = f"Init container {name} failed liveness probe"
                    to_start.append(i)
            # a running init container (or a sidecar not started yet): wait for it
        elif latest.state is State.EXITED:
            if sidecar:
                to_start.append(i)
            elif latest.exit_code != 0:
                if not restart_on_failure:
                    return InitActions(failed=True)
                to_start.append(i)
            elif i == last:
                actions.initialized = True
            else:
                to_start.append(i + 1)
        else:  # unknown: kill what may still run, then start it again
            if not sidecar and not restart_on_failure:
                return InitActions(failed=True)
            actions.kill[latest.id] = (
                f'Init container is in "{latest.state}" state, try killing it before restart'
            )
            to_start.append(i)
        previously = True
    if not previously:
        to_start.append(0)
    for i in sorted(set(to_start)):
        actions.start.append(inits[i]["name"])
    return actions


def termination_prereqs(pod: Object, stopping: Iterable[str]) -> dict[str, set[str]]:
    """Of the containers being stopped (by name), what each must wait for before its stop
    signal: a sidecar waits for every app container and for the sidecar after it (which
    waits for the next, and so on), so sidecars stop last, in reverse order."""
    running = set(stopping)
    spec = pod.get("spec") or {}
    apps = {c["name"] for c in spec.get("containers") or []} & running
    prereqs: dict[str, set[str]] = {name: set() for name in running}
    later: str | None = None
    for container in reversed(init_containers(pod)):
        if not is_sidecar(container):
            continue
        name = container["name"]
        if name in running:
            prereqs[name] = set(apps) | ({later} if later else set())
        later = name if name in running else later
    return prereqs
