"""The `local` provider: the cloud of `minik8s up`, where every node is a process on this host.

Load balancers: each is an address of the pool (`--load-balancer-pool`, default 203.0.113.0/24),
which `initialize` routes to a bridge of ours (`--load-balancer-bridge`, minik8s-lb) before any
address is handed out, with kube-proxy's own helper: an address without rules goes to that
empty bridge and is dropped there, never out of the machine. kube-proxy on this host captures
the handed-out ones (`MINIK8S-EXT-*`), as kube-proxy does for a cloud's VIP. The route stays
when the process stops (a standby or a restart relies on it, and kube-proxy may still run);
`--cleanup`, which `minik8s down` runs once everything is stopped, removes it.

Instances: the machine is this host, which exists while we run on it: a node's instance always
exists and never is shut down (a stopped kubelet is the node lifecycle controller's business,
it goes NotReady). Its provider ID is `local://<host>/<node>`; its InternalIP the one the kubelet
was given (`alpha.kubernetes.io/provided-node-ip`), else 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import IO

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.cloudcontroller import pool
from minik8s.cloudcontroller.config import Settings
from minik8s.cloudcontroller.pooled import PooledLoadBalancer
from minik8s.cloudcontroller.provider import CloudError, InstanceMetadata
from minik8s.componentbase import hostlock, hostroute

logger = logging.getLogger(__name__)

PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"


class LocalInstances:
    def __init__(self, host: str) -> None:
        self.host = host

    async def instance_exists(self, node: Object) -> bool:
        return True

    async def instance_shutdown(self, node: Object) -> bool:
        return False

    async def instance_metadata(self, node: Object) -> InstanceMetadata:
        name = meta.name_of(node)
        provided = meta.annotations_of(node).get(PROVIDED_NODE_IP)
        reported = [a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                    if a.get("type") == "InternalIP"]  # fmt: skip
        internal = provided or next((a for a in reported if a), None) or "127.0.0.1"
        return InstanceMetadata(
            provider_id=f"local://{self.host}/{name}",
            node_addresses=[
                {"type": "InternalIP", "address": internal},
                {"type": "Hostname", "address": name},
            ],
        )


class LocalProvider:
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = pool.parse(settings.load_balancer_pool)
        self._load_balancer = PooledLoadBalancer(self.pool)
        self._instances = LocalInstances(socket.gethostname())
        self._lock: IO[str] | None = None

    async def initialize(self) -> None:
        """Take the host's pool (one local provider per host, like one kube-proxy: a second
        cluster's waits), then route the whole pool to our bridge; raises CloudError if it is
        routed elsewhere."""
        self._lock = hostlock.try_lock(self.settings.lock_file)
        if self._lock is None:
            logger.warning("another cloud controller manager holds %s: waiting for it to exit",
                           self.settings.lock_file)  # fmt: skip
            while self._lock is None:
                await asyncio.sleep(1.0)
                self._lock = hostlock.try_lock(self.settings.lock_file)
            logger.info("took over %s", self.settings.lock_file)
        for network in self.pool.networks:
            try:
                await hostroute.ensure_route(network, self.settings.load_balancer_bridge)
            except (hostroute.RouteError, OSError) as e:
                raise CloudError(f"the load balancer pool: {e}") from e
        logger.info("load balancer pool %s routed to %s", self.pool.text,
                    self.settings.load_balancer_bridge)  # fmt: skip

    def load_balancer(self) -> PooledLoadBalancer:
        return self._load_balancer

    def instances(self) -> LocalInstances:
        return self._instances

    def routes(self) -> None:
        return None

    async def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def cleanup(self) -> None:
        """Remove the bridge and with it the pool's route (`--cleanup`), unless another cloud
        controller manager on this host still uses them."""
        lock = hostlock.try_lock(self.settings.lock_file)
        if lock is None:
            logger.warning("another cloud controller manager holds %s: the pool's route stays",
                           self.settings.lock_file)  # fmt: skip
            return
        with lock:
            if not await hostroute.delete_bridge(self.settings.load_balancer_bridge):
                logger.info("bridge %s does not exist: nothing to clean up",
                            self.settings.load_balancer_bridge)  # fmt: skip
