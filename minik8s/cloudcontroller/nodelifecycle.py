"""The cloud node lifecycle controller: nodes whose machine is gone go too.

Every `--node-monitor-period`, as Kubernetes' cloud-node-lifecycle-controller: a Ready node
loses the `node.cloudprovider.kubernetes.io/shutdown` taint; a node that is not Ready is asked
about: if its instance no longer exists (docker-compose: its container was removed) the Node is
deleted (Event `DeletingNode`), so the pod garbage collector removes its pods and their
controllers recreate them elsewhere; if it exists but is shut down (a stopped container) it gets
the shutdown taint.
"""

from __future__ import annotations

import asyncio
import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import NODES
from minik8s.cloudcontroller import node_plan as plan
from minik8s.cloudcontroller.nodebase import NodeControllerBase
from minik8s.cloudcontroller.provider import CloudError

logger = logging.getLogger(__name__)


class CloudNodeLifecycleController(NodeControllerBase):
    name = "cloud-node-lifecycle"

    def _init_controller(self) -> None:
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            await self.monitor_nodes()
            try:
                await asyncio.wait_for(self._stopped.wait(), self.settings.node_monitor_period)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopped.set()

    async def monitor_nodes(self) -> None:
        for node in self.nodes.store.list():
            try:
                await self._check(node)
            except (CloudError, errors.ApiError) as e:
                logger.warning("node %s: %s", meta.name_of(node), e)

    async def _check(self, node: Object) -> None:
        name = meta.name_of(node)
        if plan.node_ready_status(node) == "True":
            await self._set_shutdown_taint(node, False)
            return
        if not await self.instances.instance_exists(node):
            logger.info("deleting node %s: its instance no longer exists", name)
            self.recorder.record(node, "Normal", "DeletingNode",
                                 f"Deleting node {name} because it does not exist in the cloud "
                                 "provider")  # fmt: skip
            try:
                await self.client.delete(NODES, name, preconditions={"uid": meta.uid_of(node)})
            except (errors.NotFound, errors.Conflict):
                pass
            except errors.ApiError as e:
                self.recorder.record(node, "Warning", "DeletingNodeFailed",
                                     f"Failed deleting node {name}: {e.message}")  # fmt: skip
            return
        if await self.instances.instance_shutdown(node):
            await self._set_shutdown_taint(node, True)

    async def _set_shutdown_taint(self, node: Object, shutdown: bool) -> None:
        updated = plan.with_shutdown_taint(node, shutdown)
        if updated is None:
            return
        try:
            await self.client.update(NODES, updated)
        except (errors.NotFound, errors.Conflict):
            return  # changed meanwhile: the next round looks again
        logger.info("node %s: shutdown taint %s", meta.name_of(node),
                    "added" if shutdown else "removed")  # fmt: skip
