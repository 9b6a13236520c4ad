"""The cloud node controller: nodes registered with `--cloud-provider=external` get what the
cloud knows of their instance, then lose the `node.cloudprovider.kubernetes.io/uninitialized`
taint (until then no pod is scheduled there). Every `--node-status-update-frequency` the
addresses of every initialized node are refreshed from the provider. Events as Kubernetes'
cloud-node-controller (`Synced`).
"""

from __future__ import annotations

import asyncio
import logging

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import NODES
from minik8s.client import cache, tasks
from minik8s.client.workqueue import WorkQueue, run_workers
from minik8s.cloudcontroller import node_plan as plan
from minik8s.cloudcontroller.nodebase import NodeControllerBase
from minik8s.cloudcontroller.provider import CloudError

logger = logging.getLogger(__name__)


class CloudNodeController(NodeControllerBase):
    name = "cloud-node"

    def _init_controller(self) -> None:
        self.queue = WorkQueue(name="cloud-node")
        self.nodes.add_event_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, node: Object) -> None:
        if plan.uninitialized(node):
            self.queue.add(cache.object_key(node))

    async def run(self) -> None:
        refresh = tasks.spawn(self._refresh_addresses(), "cloud-node address refresh")
        try:
            await run_workers(self.queue, self.reconcile, 1)
        finally:
            await tasks.cancel_and_wait([refresh])

    def stop(self) -> None:
        self.queue.shutdown()

    async def reconcile(self, key: str) -> None:
        node = self.nodes.store.get_by_key(key)
        if node is None or not plan.uninitialized(node):
            return
        name = meta.name_of(node)
        logger.info("initializing node %s with cloud provider", name)
        try:
            metadata = await self.instances.instance_metadata(node)
            addresses = plan.node_addresses(node, metadata.node_addresses)
        except (CloudError, plan.AddressError) as e:
            raise CloudError(f"failed to get instance metadata for node {name}: {e}") from e
        for attempt in range(3):
            try:
                node = await self.client.update(NODES, plan.initialized_node(node, metadata))
                break
            except errors.Conflict:
                if attempt == 2:
                    raise
                node = await self.client.get(NODES, name)
        await self._write_addresses(node, addresses)
        self.recorder.record(node, "Normal", "Synced", "Node synced successfully")
        logger.info("node %s initialized: %s", name, (node.get("spec") or {}).get("providerID"))

    async def _write_addresses(self, node: Object, addresses: list[dict[str, str]]) -> None:
        current = (node.get("status") or {}).get("addresses") or []
        if not addresses or not plan.addresses_changed(current, addresses):
            return
        await self.client.patch(
            NODES, meta.name_of(node), {"status": {"addresses": addresses}}, subresource="status"
        )

    async def _refresh_addresses(self) -> None:
        """Kubernetes' UpdateNodeStatus loop: the cloud's addresses of initialized nodes."""
        while True:
            await asyncio.sleep(self.settings.node_status_update_frequency)
            for node in self.nodes.store.list():
                if plan.uninitialized(node) or meta.is_deleting(node):
                    continue
                try:
                    metadata = await self.instances.instance_metadata(node)
                    await self._write_addresses(
                        node, plan.node_addresses(node, metadata.node_addresses)
                    )
                except (CloudError, plan.AddressError, errors.ApiError) as e:
                    logger.warning("node %s: addresses not refreshed: %s", meta.name_of(node), e)
