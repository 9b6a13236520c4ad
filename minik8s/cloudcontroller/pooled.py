"""A load balancer that is an address of the pool: what both providers' load balancers share.

`ensure` hands the Service (by uid) an address of the pool (its `spec.loadBalancerIP` when
free), then `_attach`es it (a provider hook: nothing on the host, where kube-proxy captures the
address; a host route to healthy nodes for docker-compose); `ensure_deleted` `_detach`es and
frees it. One lock serialises the changes, so no address is ever handed out twice; after a
restart `adopt` reads back who held what from the Services' statuses (oldest Service first).
"""

from __future__ import annotations

import asyncio
import logging

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.cloudcontroller import pool
from minik8s.cloudcontroller.provider import CloudError, LoadBalancerStatus

logger = logging.getLogger(__name__)


def ingress_ips(service: Object) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(entry["ip"]) for entry in ingress if isinstance(entry, dict) and entry.get("ip")]


def status_for(address: str) -> LoadBalancerStatus:
    return {"ingress": [{"ip": address, "ipMode": "VIP"}]}


class PooledLoadBalancer:
    uses_nodes = False

    def __init__(self, addresses: pool.Pool) -> None:
        self.allocator = pool.Allocator(addresses)
        self._lock = asyncio.Lock()

    # --- hooks of the providers ------------------------------------------------------------

    async def _attach(self, service: Object, address: str, nodes: list[Object]) -> None:
        """Make `address` reach the Service's nodes (nothing by default)."""

    async def _detach(self, service: Object, address: str) -> None:
        """Undo `_attach` (nothing by default)."""

    # --- the LoadBalancer interface ---------------------------------------------------------

    async def adopt(self, services: list[Object]) -> list[str]:
        claims = [
            (meta.uid_of(svc), meta.ns_name(svc), ip)
            for svc in sorted(services, key=lambda s: (meta.creation_time(s), meta.ns_name(s)))
            for ip in ingress_ips(svc)[:1]
        ]
        async with self._lock:
            refused = self.allocator.restore(claims)
        for name, address in refused:
            logger.warning("service %s: its address %s is not ours to keep; it gets another",
                           name, address)  # fmt: skip
        if claims:
            logger.info("adopted %d load balancer address(es) of the pool",
                        len(claims) - len(refused))  # fmt: skip
        return [name for name, _ in refused]

    async def get_load_balancer(
        self, cluster: str, service: Object
    ) -> tuple[LoadBalancerStatus | None, bool]:
        address = self.allocator.address_of(meta.uid_of(service))
        return (status_for(address), True) if address else (None, False)

    async def ensure_load_balancer(
        self, cluster: str, service: Object, nodes: list[Object]
    ) -> LoadBalancerStatus:
        holder = meta.uid_of(service)
        requested = str((service.get("spec") or {}).get("loadBalancerIP") or "")
        async with self._lock:
            before = self.allocator.address_of(holder)
            try:
                address = self.allocator.assign(holder, meta.ns_name(service), requested)
            except pool.PoolError as e:
                raise CloudError(str(e)) from e
            if before and before != address:
                await self._detach(service, before)
            try:
                await self._attach(service, address, nodes)
            except Exception:
                if address != before:
                    self.allocator.release(holder)
                raise
        if address != before:
            logger.info("service %s: load balancer address %s", meta.ns_name(service), address)
        return status_for(address)

    async def update_load_balancer(
        self, cluster: str, service: Object, nodes: list[Object]
    ) -> None:
        address = self.allocator.address_of(meta.uid_of(service))
        if address:
            async with self._lock:
                await self._attach(service, address, nodes)

    async def ensure_load_balancer_deleted(self, cluster: str, service: Object) -> None:
        async with self._lock:
            address = self.allocator.address_of(meta.uid_of(service))
            if address is None:
                return
            await self._detach(service, address)
            self.allocator.release(meta.uid_of(service))
        logger.info("service %s: released load balancer address %s",
                    meta.ns_name(service), address)  # fmt: skip

    def pool_usage(self) -> tuple[int, int]:
        return self.allocator.in_use, self.allocator.pool.size
