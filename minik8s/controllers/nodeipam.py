"""The node IPAM controller: give each node a pod CIDR (`spec.podCIDR`, `spec.podCIDRs`).

Runs only with `--allocate-node-cidrs` (kube-controller-manager's flag). A node without a
podCIDR gets the first free `/node_cidr_mask_size` subnet of `cluster_cidr`; the kubelet
builds its pod bridge on it and the other nodes route it to the node's InternalIP. One worker:
allocations are serialised, and the ones written but not yet seen in the cache are
remembered so that two nodes never get the same subnet.
"""

from __future__ import annotations

import logging

from minik8s.api import errors, meta
from minik8s.api.resources import NODES
from minik8s.controllers import nodeipam_plan as plan
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


class NodeIpamController(Controller):
    name = "nodeipam"

    def register(self) -> None:
        self.pending: dict[str, str] = {}
        """node name -> CIDR written but not yet seen in the informer's cache."""
        self.nodes = self.ctx.informer(NODES)
        self.nodes.add_event_handler(
            self.enqueue, lambda old, new: self.enqueue(new), self._node_deleted
        )

    def _node_deleted(self, node: dict) -> None:
        self.pending.pop(meta.name_of(node), None)

    async def reconcile(self, key: str) -> None:
        s = self.settings
        if not s.allocate_node_cidrs:
            return
        node = self.nodes.store.get_by_key(key)
        if node is None:
            return
        name = meta.name_of(node)
        if plan.node_cidrs(node):
            self.pending.pop(name, None)
            return
        taken = [c for n in self.nodes.store.list() for c in plan.node_cidrs(n)]
        taken += [c for n, c in self.pending.items() if n != name]
        cidr = self.pending.get(name) or plan.next_free(
            s.cluster_cidr, s.node_cidr_mask_size, taken
        )
        self.pending[name] = cidr
        try:
            await self.client.patch(NODES, name, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except errors.NotFound:
            self.pending.pop(name, None)
            return
        logger.info("node %s: allocated pod CIDR %s", name, cidr)
        self.recorder.record(node, "Normal", "CIDRAssignmentSucceeded", f"pod CIDR {cidr}")
