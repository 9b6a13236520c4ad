"""The pod lifecycle event generator: relist the node's containers every second and wake the
worker of each pod whose containers changed (an exit, a crash, a container removed by hand),
and of containers whose pod the API no longer has (orphans, e.g. after a kubelet restart).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from minik8s.kubelet import metrics
from minik8s.kubelet.runtime import LABEL_NODE, Runtime, RuntimeError_, State

logger = logging.getLogger(__name__)

Snapshot = dict[str, tuple[str, State]]
"""Container id → (pod uid, state)."""


def changed_pods(before: Snapshot, after: Snapshot) -> set[str]:
    """Uids of pods with a container added, removed, or in another state (pure)."""
    changed = {uid for cid, (uid, _) in before.items() if cid not in after}
    changed |= {uid for cid, (uid, state) in after.items() if before.get(cid) != (uid, state)}
    return changed


class Pleg:
    def __init__(
        self,
        runtime: Runtime,
        node: str,
        enqueue: Callable[[str], None],
        known: Callable[[str], bool],
        period: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.node = node
        self.enqueue = enqueue
        self.known = known
        self.period = period
        self._snapshot: Snapshot = {}
        self.relists = 0

    async def relist(self) -> None:
        with metrics.runtime_op("list_containers"):
            containers = await self.runtime.list_containers({LABEL_NODE: self.node})
        snapshot = {c.id: (c.pod_uid, c.state) for c in containers}
        wake = changed_pods(self._snapshot, snapshot)
        wake |= {uid for uid, _ in snapshot.values() if not self.known(uid)}  # orphans
        self._snapshot = snapshot
        self.relists += 1
        running = [c for c in containers if c.state is State.RUNNING]
        metrics.RUNNING_PODS.set(sum(1 for c in running if c.is_sandbox))
        metrics.RUNNING_CONTAINERS.set(sum(1 for c in running if not c.is_sandbox))
        for uid in wake:
            self.enqueue(uid)

    async def run(self) -> None:
        while True:
            try:
                await self.relist()
            except (RuntimeError_, OSError) as e:
                logger.warning("relisting containers failed: %s", e)
            except Exception:
                logger.exception("relisting containers failed")
            await asyncio.sleep(self.period)
