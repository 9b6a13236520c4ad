"""Each apiserver's identity Lease, and the `lease` endpoint reconciler over all of them.

Every `renew_interval` seconds an apiserver renews `kube-system/apiserver-<hash>`, deletes the
identity Leases of apiservers dead for a while, and sets the `kubernetes` Endpoints to the
apiservers whose Lease is live (`endpoints_plan`). On a clean shutdown it deletes its Lease and
takes itself out of the Endpoints at once (Kubernetes' RemoveEndpoints); a killed one drops out
when its Lease expires (`lease_duration` seconds).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from dataclasses import dataclass, field

from minik8s.api import errors
from minik8s.api.meta import name_of
from minik8s.api.resources import LEASES
from minik8s.apiserver import kubernetesservice
from minik8s.apiserver.controlplane import endpoints_plan
from minik8s.apiserver.registry import DeleteOptions, Registry
from minik8s.store import errors as store_errors

logger = logging.getLogger(__name__)


@dataclass
class ApiserverIdentity:
    registry: Registry
    advertise: tuple[str, int]
    """(address, port) this apiserver is reached at."""
    service_cidr: str
    lease_duration: int = 15
    renew_interval: float = 5.0
    hostname: str = field(default_factory=socket.gethostname)

    def __post_init__(self) -> None:
        self.name = endpoints_plan.lease_name(self.hostname, self.advertise[1])
        self.holder = endpoints_plan.holder_identity(self.name)
        self.service = kubernetesservice.KubernetesService(
            self.registry, self.service_cidr, self.advertise[1]
        )

    @property
    def endpoint(self) -> str:
        return f"{self.advertise[0]}:{self.advertise[1]}"

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except (errors.ApiError, store_errors.StoreError) as e:
                logger.warning("apiserver identity %s: %s (retrying)", self.name, e)
            await asyncio.sleep(self.renew_interval)

    def _leases(self) -> list[dict]:
        return [
            lease
            for lease in self.registry.cache.cache(LEASES).snapshot(endpoints_plan.NAMESPACE)
            if endpoints_plan.is_identity_lease(lease)
        ]

    async def reconcile(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        await self._renew(now)
        await self.registry.cache.wait_fresh()
        leases = self._leases()
        for lease in endpoints_plan.expired(leases, now):
            await self._delete(name_of(lease))
            logger.info("deleted the identity lease of a stopped apiserver: %s", name_of(lease))
        await self.service.ensure_service()
        await self.service.set_endpoints(endpoints_plan.live_endpoints(leases, now))

    async def _renew(self, now: datetime.datetime) -> None:
        lease = endpoints_plan.identity_lease(
            self.name, self.holder, self.hostname, self.endpoint, self.lease_duration, now
        )
        try:
            await self.registry.update(LEASES, endpoints_plan.NAMESPACE, self.name, lease)
        except errors.NotFound:
            await self.registry.create(LEASES, endpoints_plan.NAMESPACE, lease)
            logger.info("apiserver identity lease %s (%s)", self.name, self.endpoint)

    async def _delete(self, name: str) -> None:
        try:
            await self.registry.delete(LEASES, endpoints_plan.NAMESPACE, name, DeleteOptions())
        except errors.NotFound:
            pass

    async def withdraw(self) -> None:
        """On shutdown: this apiserver's Lease and endpoint go now."""
        try:
            await self._delete(self.name)
            now = datetime.datetime.now(datetime.UTC)
            others = [lease for lease in self._leases() if name_of(lease) != self.name]
            await self.service.set_endpoints(endpoints_plan.live_endpoints(others, now))
        except (errors.ApiError, store_errors.StoreError) as e:
            logger.warning("apiserver identity %s: could not withdraw: %s", self.name, e)
