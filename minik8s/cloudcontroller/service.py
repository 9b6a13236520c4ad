"""The service controller: a load balancer for every Service of `type: LoadBalancer`.

As Kubernetes' (k8s.io/cloud-provider/controllers/service): for a Service that wants one, add
the `service.kubernetes.io/load-balancer-cleanup` finalizer, `EnsureLoadBalancer` with the
provider, write `status.loadBalancer.ingress` (`ipMode: VIP`), with Events
`EnsuringLoadBalancer` / `EnsuredLoadBalancer`, or `SyncLoadBalancerFailed` (a Warning) when the
provider cannot (a full pool, a requested address that is taken): the Service stays pending and
is retried with backoff, and at once when an address is freed. A Service being deleted, or no
longer a LoadBalancer, gets its load balancer deleted (`DeletingLoadBalancer` /
`DeletedLoadBalancer`), its status cleared and the finalizer removed. Services of another
`loadBalancerClass` are never touched. When the nodes behind load balancers change, providers
that send to nodes are told (`UpdatedLoadBalancer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge

from minik8s.api import errors, meta
from minik8s.api.meta import Object
from minik8s.api.resources import SERVICES
from minik8s.client import cache, tasks
from minik8s.client.workqueue import ExponentialBackoffRateLimiter, WorkQueue, run_workers
from minik8s.cloudcontroller import service_plan as plan
from minik8s.cloudcontroller.base import ControllerBase, ControllerContext
from minik8s.cloudcontroller.provider import CloudError, LoadBalancer

logger = logging.getLogger(__name__)

POOL = Gauge(
    "cloudprovider_load_balancer_pool_addresses",
    "Addresses of the load balancer pool, by state.",
    ["state"],
)
SYNC_ERRORS = Counter(
    "cloudprovider_load_balancer_sync_errors_total", "Load balancer syncs that failed."
)
NODE_SYNC_PERIOD = 1.0
"""Seconds between two looks at whether the nodes behind the load balancers changed."""
PREPARE_RETRY_CAP = 60.0
"""Longest wait between two attempts to ready the provider's load balancers."""


class ServiceController(ControllerBase):
    name = "service"

    def __init__(
        self,
        context: ControllerContext,
        balancer: LoadBalancer,
        prepare: Callable[[], Awaitable[None]],
    ) -> None:
        """`prepare()` readies the provider's load balancers (routes the pool) before any
        address is handed out."""
        self.services = context.informers.informer(SERVICES)
        super().__init__(context)
        self.prepare = prepare
        self.balancer = balancer
        self.lb_class = context.settings.load_balancer_class
        self.cluster = context.settings.cluster_name
        # Kubernetes' service controller retries after 5 s, doubling up to 5 min
        self.queue = WorkQueue(ExponentialBackoffRateLimiter(5.0, 300.0), name="service")
        self.pool_ready = False
        """The pool is routed and earlier runs' addresses adopted (part of /readyz)."""
        self._known: dict[str, Object] = {}
        """key → the last Service we made a load balancer for (deletions without finalizer)."""
        self._node_signatures: dict[str, tuple[Any, ...]] = {}
        self._nodes_changed = asyncio.Event()
        self.services.add_event_handler(
            self._added, self._updated, lambda svc: self.queue.add(cache.object_key(svc))
        )
        self.nodes.add_event_handler(
            self._node_changed, lambda old, new: self._node_changed(new), self._node_changed
        )

    def _added(self, service: Object) -> None:
        if plan.ours(service, self.lb_class):
            self.queue.add(cache.object_key(service))

    def _updated(self, old: Object, new: Object) -> None:
        if plan.needs_update(old, new, self.lb_class) or plan.needs_cleanup(new):
            self.queue.add(cache.object_key(new))

    def _node_changed(self, node: Object) -> None:
        self._nodes_changed.set()

    # --- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Prepare the provider, adopt what earlier runs handed out, then work (the informers
        are synced)."""
        await self._prepare()
        self.pool_ready = True
        wanted = (plan.wants_load_balancer, lambda svc, _: plan.has_finalizer(svc))
        mine = [s for s in self.services.store.list() if any(f(s, self.lb_class) for f in wanted)]
        for name in await self.balancer.adopt(mine):
            self.queue.add(name)
        self._observe_pool()
        workers = self.settings.concurrent_service_syncs
        node_sync = tasks.spawn(self._sync_nodes(), "service controller node sync")
        try:
            await run_workers(self.queue, self.reconcile, workers)
        finally:
            await tasks.cancel_and_wait([node_sync])

    async def _prepare(self) -> None:
        """Until the provider is ready (the pool routed): retried with backoff, not a crash,
        so that the node controllers keep working meanwhile."""
        delay = 1.0
        while True:
            try:
                await self.prepare()
                return
            except CloudError as e:
                logger.error("no load balancers yet: %s (retrying in %.0fs)", e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, PREPARE_RETRY_CAP)

    def stop(self) -> None:
        self.queue.shutdown()

    def eligible_nodes(self) -> list[Object]:
        return [n for n in self.nodes.store.list() if plan.eligible_node(n)]

    # --- one Service ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        service = self.services.store.get_by_key(key)
        if service is None:  # gone without our finalizer: clean up what we know of
            known = self._known.pop(key, None)
            if known is not None:
                await self._delete_load_balancer(known)
            return
        known = self._known.get(key)
        if known is not None and meta.uid_of(known) != meta.uid_of(service):
            await self._delete_load_balancer(known)  # deleted and created again meanwhile
            self._known.pop(key, None)
        if not plan.wants_load_balancer(service, self.lb_class) or plan.needs_cleanup(service):
            if plan.has_finalizer(service) or key in self._known:
                await self._clean_up(key, service)
            return
        self._known[key] = service
        self.recorder.record(service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        try:
            service = await self._add_finalizer(service)
            status = await self.balancer.ensure_load_balancer(
                self.cluster, service, self.eligible_nodes()
            )
        except (CloudError, errors.ApiError) as e:
            SYNC_ERRORS.inc()
            self.recorder.record(service, "Warning", "SyncLoadBalancerFailed",
                                 f"Error syncing load balancer: failed to ensure load balancer: "
                                 f"{_message(e)}")  # fmt: skip
            if isinstance(e, errors.NotFound):
                return
            raise
        finally:
            self._observe_pool()
        self.recorder.record(service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        await self._patch_status(service, status)

    async def _clean_up(self, key: str, service: Object) -> None:
        try:
            await self._delete_load_balancer(service)
        except CloudError as e:
            SYNC_ERRORS.inc()
            self.recorder.record(service, "Warning", "SyncLoadBalancerFailed",
                                 f"Error syncing load balancer: failed to delete load balancer: "
                                 f"{e}")  # fmt: skip
            raise
        self._known.pop(key, None)
        if plan.has_finalizer(service):
            try:
                service = await self._patch_finalizers(service, add=False)
            except errors.NotFound:
                return
        if not meta.is_deleting(service):
            await self._patch_status(service, {})

    async def _delete_load_balancer(self, service: Object) -> None:
        _, exists = await self.balancer.get_load_balancer(self.cluster, service)
        if exists:
            self.recorder.record(service, "Normal", "DeletingLoadBalancer",
                                 "Deleting load balancer")  # fmt: skip
            await self.balancer.ensure_load_balancer_deleted(self.cluster, service)
            self.recorder.record(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
            self._observe_pool()
            self._retry_pending()

    async def _add_finalizer(self, service: Object) -> Object:
        if plan.has_finalizer(service):
            return service
        return await self._patch_finalizers(service, add=True)

    async def _patch_finalizers(self, service: Object, add: bool, attempts: int = 3) -> Object:
        """Add or remove our finalizer, keeping the others: a merge patch conditional on the
        resourceVersion, retried on a fresh read after a conflict."""
        name, namespace = meta.name_of(service), meta.namespace_of(service)
        for attempt in range(attempts):
            others = [f for f in meta.finalizers_of(service) if f != plan.FINALIZER]
            finalizers = [*others, plan.FINALIZER] if add else others
            try:
                return await self.client.patch(
                    SERVICES, name, plan.finalizers_patch(service, finalizers),
                    namespace=namespace,
                )  # fmt: skip
            except errors.Conflict:
                if attempt == attempts - 1:
                    raise
                service = await self.client.get(SERVICES, name, namespace)
        raise AssertionError("unreachable")

    async def _patch_status(self, service: Object, status: dict[str, Any]) -> None:
        if plan.status_equal(plan.load_balancer_status(service), status):
            return
        try:
            await self.client.patch(
                SERVICES, meta.name_of(service), plan.status_patch(status),
                namespace=meta.namespace_of(service), subresource="status",
            )  # fmt: skip
        except errors.NotFound:
            pass

    def _retry_pending(self) -> None:
        """An address was freed: pending Services try again now, not after their backoff."""
        for service in self.services.store.list():
            if plan.is_pending(service, self.lb_class):
                self.queue.add(cache.object_key(service))

    def _observe_pool(self) -> None:
        in_use, size = self.balancer.pool_usage()
        POOL.labels("in_use").set(in_use)
        POOL.labels("total").set(size)

    # --- nodes ------------------------------------------------------------------------------

    async def _sync_nodes(self) -> None:
        """Kubernetes' nodeSyncLoop: when the backends change, tell the load balancers."""
        if not self.balancer.uses_nodes:
            return
        while True:
            await self._nodes_changed.wait()
            self._nodes_changed.clear()
            signatures = {meta.name_of(n): plan.node_signature(n) for n in self.nodes.store.list()}
            if signatures != self._node_signatures:
                self._node_signatures = signatures
                await self._update_hosts()
            await asyncio.sleep(NODE_SYNC_PERIOD)

    async def _update_hosts(self) -> None:
        nodes = self.eligible_nodes()
        for service in self.services.store.list():
            if not plan.wants_load_balancer(service, self.lb_class) or meta.is_deleting(service):
                continue
            _, exists = await self.balancer.get_load_balancer(self.cluster, service)
            if not exists:
                continue
            try:
                await self.balancer.update_load_balancer(self.cluster, service, nodes)
            except CloudError as e:
                names = ", ".join(sorted(meta.name_of(n) for n in nodes))
                self.recorder.record(service, "Warning", "UpdateLoadBalancerFailed",
                                     f"Error updating load balancer with new hosts [{names}]: "
                                     f"{e}")  # fmt: skip
                continue
            self.recorder.record(service, "Normal", "UpdatedLoadBalancer",
                                 "Updated load balancer with new hosts")  # fmt: skip


def _message(error: Exception) -> str:
    return error.message if isinstance(error, errors.ApiError) else str(error)
