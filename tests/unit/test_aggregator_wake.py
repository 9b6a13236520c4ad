"""The APIService availability check wakes only for what the APIServices name (Kubernetes'
AvailableConditionController queues the APIServices of a changed Service or Endpoints), and
looks those up by key: a burst of unrelated Service or Endpoints writes leaves it asleep (it
used to rebuild maps of every Service and Endpoints on each, and the watch cache fell seconds
behind on the same event loop)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from minik8s.api import resources
from minik8s.apiserver.aggregator.controller import Aggregator

pytestmark = pytest.mark.unit


class Cache:
    def __init__(self) -> None:
        kinds = (resources.SERVICES, resources.ENDPOINTS, resources.APISERVICES)
        self.caches = {rt.plural: SimpleNamespace(objects={}) for rt in kinds}
        self.on_event: list[Any] = []
        self.on_reset: list[Any] = []

    def cache(self, rt: resources.ResourceType) -> Any:
        return self.caches[rt.plural]

    def put(self, rt: resources.ResourceType, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.cache(rt).objects[rt.storage_key(meta.get("namespace"), meta["name"])] = obj


class Registry:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    async def update(
        self, rt: Any, ns: Any, name: str, obj: dict[str, Any], *_: Any, **__: Any
    ) -> None:
        self.updates.append(obj)


def reason(registry: Registry) -> str:
    return str(registry.updates[-1]["status"]["conditions"][0]["reason"])


def test_only_named_services_and_endpoints_wake_the_check_and_it_reads_only_them() -> None:
    cache, registry = Cache(), Registry()
    aggregator = Aggregator(registry, cache, front=None)  # type: ignore[arg-type]
    service = {"namespace": "kube-system", "name": "metrics-server", "port": 443}
    spec = {"group": "metrics.k8s.io", "version": "v1beta1", "service": service}
    api = {"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": spec}
    cache.put(resources.APISERVICES, api)
    named = {"metadata": {"namespace": "kube-system", "name": "metrics-server"},
             "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 4443}]}}  # fmt: skip
    other = {"metadata": {"namespace": "default", "name": "web"}, "spec": {}}
    for rt in (resources.SERVICES, resources.ENDPOINTS):
        aggregator._on_event(rt, "PUT", other)
        assert not aggregator._wake.is_set(), f"an unrelated {rt.kind} woke the check"
    aggregator._on_event(resources.SERVICES, "PUT", named)
    assert aggregator._wake.is_set()
    aggregator._wake.clear()
    aggregator._on_event(resources.APISERVICES, "PUT", api)
    assert aggregator._wake.is_set() and aggregator._referenced is None
    aggregator._wake.clear()
    aggregator._on_reset()
    assert aggregator._wake.is_set()

    asyncio.run(aggregator.check_all())
    assert reason(registry) == "ServiceNotFound"
    cache.put(resources.SERVICES, named)
    cache.put(resources.SERVICES, other)
    asyncio.run(aggregator.check_all())
    assert reason(registry) == "MissingEndpoints"
