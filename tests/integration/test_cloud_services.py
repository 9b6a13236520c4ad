"""The service controller's concurrent syncs (its default `--concurrent-service-syncs`) against
a real apiserver: a burst of LoadBalancer Services each gets its own address of the pool, the
finalizer and its Events; deleting them releases every address. The pool is only handed out
here, never routed (the routed pool and the data path: tests/e2e/test_cloud)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.resources import EVENTS, NAMESPACES, SERVICES
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.cloudcontroller import pool, service_plan
from minik8s.cloudcontroller.base import ControllerContext
from minik8s.cloudcontroller.config import Settings
from minik8s.cloudcontroller.pooled import PooledLoadBalancer, ingress_ips
from minik8s.cloudcontroller.service import ServiceController
from minik8s.componentbase.events import EventRecorder
from tests.support.waiting import async_wait_for

BURST = 40


@pytest.fixture()
async def client(kubeconfig: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(kubeconfig)) as c:
        yield c


async def test_a_burst_gets_distinct_addresses_with_concurrent_syncs(client: ApiClient) -> None:
    settings = Settings()
    assert settings.concurrent_service_syncs > 1  # what this test exercises
    namespace = f"lb-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    informers = InformerFactory(client)
    recorder = EventRecorder(client, "service-controller", writers=1)
    balancer = PooledLoadBalancer(pool.parse("192.0.2.1-192.0.2.254"))

    async def prepared() -> None:
        return None

    context = ControllerContext(client, informers, recorder, settings)
    controller = ServiceController(context, balancer, prepared)
    recorder.start()
    informers.start()
    assert await informers.wait_synced(10)
    running = tasks.spawn(controller.run(), "service controller")
    try:
        ports = [{"name": "http", "port": 80, "targetPort": 8080}]
        await asyncio.gather(*(
            client.create(SERVICES, {"metadata": {"name": f"s-{i}"},
                                     "spec": {"type": "LoadBalancer", "ports": ports}}, namespace)
            for i in range(BURST)
        ))  # fmt: skip

        async def all_addressed() -> list[dict[str, Any]]:
            items = (await client.list(SERVICES, namespace))["items"]
            done = [s for s in items if ingress_ips(s)]
            return items if len(done) == BURST else []

        services = await async_wait_for(all_addressed, f"{BURST} Services addressed", 30, 0.1)
        addresses = [ingress_ips(s)[0] for s in services]
        assert len(set(addresses)) == BURST, "an address handed out twice"
        assert balancer.pool_usage()[0] == BURST
        assert all(service_plan.has_finalizer(s) for s in services)

        async def ensured() -> bool:
            items = (await client.list(EVENTS, namespace))["items"]
            count = sum(1 for e in items if e["reason"] == "EnsuredLoadBalancer")
            return count == BURST

        await async_wait_for(ensured, "an EnsuredLoadBalancer Event for each", 30, 0.1)

        await asyncio.gather(*(client.delete(SERVICES, f"s-{i}", namespace) for i in range(BURST)))

        async def released() -> bool:
            gone = not (await client.list(SERVICES, namespace))["items"]
            return gone and balancer.pool_usage()[0] == 0

        await async_wait_for(released, "the Services gone (finalizer removed), pool free", 30, 0.1)
    finally:
        controller.stop()
        await tasks.cancel_and_wait([running])
        await recorder.stop()
        await informers.stop()
        await client.delete(NAMESPACES, namespace)
