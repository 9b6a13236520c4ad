"""Stopping a pod's containers as Kubernetes' `killContainer` does: a Normal `Killing` Event,
the `preStop` hook within the grace period, then SIGTERM and, once the rest of the grace
period is over, SIGKILL. Containers stop in parallel, except that sidecars wait for the app
containers and the sidecars after them (`init_plan.termination_prereqs`), within their own
grace period: every container's period starts when the kill does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from minik8s.api import podutil
from minik8s.api.meta import Object
from minik8s.componentbase.events import EventRecorder
from minik8s.kubelet import hooks, init_plan, metrics, specs
from minik8s.kubelet.hooks import HookRunner
from minik8s.kubelet.runtime import Container, Runtime, RuntimeError_

logger = logging.getLogger(__name__)

MINIMUM_GRACE = 2
"""Seconds between SIGTERM and SIGKILL at least once a grace period was given (Kubernetes'
minimumGracePeriodInSeconds), even when the preStop hook or the wait used it all."""


@dataclass(frozen=True)
class Kill:
    container: Container
    message: str = ""
    """The Killing Event's message; default `Stopping container <name>`."""


def stop_timeout(grace: int, used: float) -> int:
    """Seconds the runtime waits after SIGTERM: what is left of `grace`, at least
    `MINIMUM_GRACE` when there was a grace period at all."""
    if grace <= 0:
        return 0
    return max(MINIMUM_GRACE, grace - int(used))


class Killer:
    def __init__(self, runtime: Runtime, runner: HookRunner, recorder: EventRecorder) -> None:
        self.runtime = runtime
        self.runner = runner
        self.recorder = recorder

    async def kill(self, pod: Object, kills: list[Kill], grace: int, pod_ip: str) -> None:
        """Stop the containers of `kills` (all of the same pod), each within `grace` seconds."""
        if not kills:
            return
        prereqs = init_plan.termination_prereqs(pod, [k.container.container_name for k in kills])
        stopped = {name: asyncio.Event() for name in prereqs}
        await asyncio.gather(*(self._kill(pod, k, grace, pod_ip, prereqs, stopped) for k in kills))

    async def _kill(
        self,
        pod: Object,
        kill: Kill,
        grace: int,
        pod_ip: str,
        prereqs: dict[str, set[str]],
        stopped: dict[str, asyncio.Event],
    ) -> None:
        container, name = kill.container, kill.container.container_name
        key = specs.pod_key(pod)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            spec = podutil.container_named(pod, name)
            if spec is not None:
                self.recorder.record(pod, "Normal", "Killing",
                                     kill.message or f"Stopping container {name}")  # fmt: skip
            handler = hooks.handler_of(spec or {}, hooks.PRE_STOP)
            if handler is not None and grace > 0:
                await self._pre_stop(pod, spec or {}, container, handler, grace, pod_ip)
            waits = [stopped[p].wait() for p in prereqs.get(name, ()) if p in stopped]
            left = grace - (loop.time() - started)
            if waits and left > 0:
                try:
                    await asyncio.wait_for(asyncio.gather(*waits), left)
                except TimeoutError:
                    logger.info("%s: %s stops before the containers it waits for", key, name)
            timeout = stop_timeout(grace, loop.time() - started)
            logger.info("%s: killing container %s %s (%s, grace %ds)", key, name,
                        container.id[:12], kill.message or "stop", timeout)  # fmt: skip
            with metrics.runtime_op("stop_container"):
                await self.runtime.stop(container.id, timeout)
        except RuntimeError_ as e:
            logger.warning("%s: stopping %s failed: %s", key, container.id[:12], e)
        finally:
            if name in stopped:
                stopped[name].set()

    async def _pre_stop(
        self,
        pod: Object,
        spec: Object,
        container: Container,
        handler: Object,
        grace: int,
        pod_ip: str,
    ) -> None:
        key, name = specs.pod_key(pod), container.container_name
        try:
            await asyncio.wait_for(self.runner.run(pod, spec, container.id, handler, pod_ip), grace)
        except hooks.HookError as e:
            logger.info("%s: preStop hook of %s failed: %s", key, name, e)
            self.recorder.record(pod, "Warning", "FailedPreStopHook", "PreStopHook failed")
        except TimeoutError:
            logger.info("%s: preStop hook of %s not completed in %ds", key, name, grace)
