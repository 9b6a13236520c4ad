"""The aggregation layer at run time: local APIServices registered at start, the Available
condition of every APIService kept current (kube-aggregator's AvailableConditionController),
and what discovery and the proxy need to know of the available extension group versions.

A service-backed APIService is Available when its Service exists, its Endpoints have an
address for the Service's port, and `GET /apis/<group>/<version>` there answers 200 over TLS
(with the front-proxy certificate, the backend checked against the APIService's caBundle).
The check runs every `--apiservice-check-interval` (10 s) and as soon as an APIService,
Service or Endpoints object changes; the APIResourceList it reads is what discovery lists.
Only loopback backends are contacted (minik8s runs every component on this machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from minik8s.api import errors, resources, times
from minik8s.api.meta import Object
from minik8s.apiserver.aggregator import apiservices, frontproxy
from minik8s.apiserver.registry import Registry
from minik8s.apiserver.watchcache import WatchCache

logger = logging.getLogger(__name__)

WATCHED = frozenset({"apiservices", "services", "endpoints"})
AGGREGATOR_USER = "system:kube-aggregator"
MANAGER = "kube-apiserver"


@dataclass
class Served:
    """An available extension group version."""

    group: str
    version: str
    backend: apiservices.Backend
    group_priority: int
    version_priority: int
    resources: Object = field(default_factory=dict)
    """Its APIResourceList, as the backend answered it."""


class Aggregator:
    def __init__(
        self,
        registry: Registry,
        cache: WatchCache,
        front: frontproxy.FrontProxy,
        check_interval: float = 10.0,
        check_timeout: float = 5.0,
        loopback_services: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self.loopback_services = loopback_services
        """`namespace/name` of the Services that are processes on this machine."""
        self.cache = cache
        self.front = front
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self.served: dict[tuple[str, str], Served] = {}
        self._wake = asyncio.Event()
        self._referenced: frozenset[str] | None = None
        """`namespace/name` of the Services the APIServices name (None: to be recomputed)."""
        self._task: asyncio.Task[None] | None = None
        self._contexts: dict[tuple[bytes | None, bool], Any] = {}
        self.session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        await self._register_local()
        await self._publish_front_proxy()
        self.cache.on_event.append(self._on_event)
        self.cache.on_reset.append(self._on_reset)
        await self.check_all()
        self._task = asyncio.create_task(self._run(), name="apiservice-availability")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.session is not None:
            await self.session.close()
        self.front.close()

    def _on_event(self, resource: resources.ResourceType, _type: str, obj: Object, *_: Any) -> None:
        """Wake the check for a change of an APIService, or of a Service or Endpoints an
        APIService names (Kubernetes' AvailableConditionController queues only the
        APIServices of a changed Service or Endpoints, not all of them for any such change)."""
        if resource.plural == "apiservices":
            self._referenced = None
            self._wake.set()
        elif resource.plural in WATCHED:
            meta = obj.get("metadata") or {}
            if f"{meta.get('namespace')}/{meta.get('name')}" in self.referenced():
                self._wake.set()

    def _on_reset(self) -> None:
        """After a relist (no events for it): recompute what the APIServices name, check now."""
        self._referenced = None
        self._wake.set()

    def referenced(self) -> frozenset[str]:
        """`namespace/name` of every Service an APIService names."""
        found = self._referenced
        if found is None:
            found = self._referenced = frozenset(
                f"{ref.get('namespace', '')}/{ref.get('name', '')}"
                for obj in self.cache.cache(resources.APISERVICES).objects.values()
                if (ref := (obj.get("spec") or {}).get("service"))
            )
        return found

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.check_interval)
            self._wake.clear()
            try:
                await self.check_all()
            except Exception:  # keep checking; the next round may succeed
                logger.exception("APIService availability check failed")

    async def _register_local(self) -> None:
        for obj in apiservices.local_apiservices():
            with contextlib.suppress(errors.AlreadyExists):
                await self.registry.create(resources.APISERVICES, None, obj, manager=MANAGER)

    async def _publish_front_proxy(self) -> None:
        """`kube-system/extension-apiserver-authentication`: the request-header CA."""
        configmap = frontproxy.configmap(self.front)
        name, namespace = frontproxy.CONFIGMAP_NAME, frontproxy.CONFIGMAP_NAMESPACE
        try:
            await self.registry.create(resources.CONFIGMAPS, namespace, configmap, manager=MANAGER)
        except errors.AlreadyExists:
            current = await self.registry.get(resources.CONFIGMAPS, namespace, name)
            if current.get("data") != configmap["data"]:
                current["data"] = configmap["data"]
                await self.registry.update(
                    resources.CONFIGMAPS, namespace, name, current, manager=MANAGER
                )

    # -- availability ---------------------------------------------------------------------------
    async def check_all(self) -> None:
        # only the Services and Endpoints the APIServices name, looked up by key (not every
        # object of the cluster: this runs on each change of one of them)
        items = list(self.cache.cache(resources.APISERVICES).objects.values())
        by_key: dict[str, Object] = {}
        endpoints: dict[str, Object] = {}
        for obj in items:
            ref = (obj.get("spec") or {}).get("service") or {}
            namespace, name = ref.get("namespace", ""), ref.get("name", "")
            key = f"{namespace}/{name}"
            for resource, found in (
                (resources.SERVICES, by_key),
                (resources.ENDPOINTS, endpoints),
            ):
                value = self.cache.cache(resource).objects.get(
                    resource.storage_key(namespace, name)
                )
                if value is not None:
                    found[key] = value
        served: dict[tuple[str, str], Served] = {}
        results = await asyncio.gather(
            *(self._check(obj, by_key, endpoints) for obj in items), return_exceptions=True
        )
        for obj, result in zip(items, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("apiservice %s: %r", obj["metadata"]["name"], result)
                continue
            availability, entry = result
            if entry is not None:
                served[(entry.group, entry.version)] = entry
            await self._set_condition(obj, availability)
        self.served = served

    async def _check(
        self, obj: Object, services: dict[str, Object], endpoints: dict[str, Object]
    ) -> tuple[apiservices.Availability, Served | None]:
        if apiservices.is_local(obj):
            return apiservices.Availability("True", "Local", apiservices.LOCAL_MESSAGE), None
        spec = obj.get("spec") or {}
        found = apiservices.resolve(obj, services, endpoints, self.loopback_services)
        if isinstance(found, apiservices.Availability):
            return found, None
        group, version = spec.get("group", ""), spec.get("version", "")
        url = f"https://{found.host}:{found.port}/apis/{group}/{version}"
        try:
            status, body = await self._get(found, f"/apis/{group}/{version}")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
            message = f"failing or missing response from {url}: {e or type(e).__name__}"
            return apiservices.Availability("False", "FailedDiscoveryCheck", message), None
        if status != 200:
            message = f"failing or missing response from {url}: bad status from {url}: {status}"
            return apiservices.Availability("False", "FailedDiscoveryCheck", message), None
        entry = Served(
            group,
            version,
            found,
            int(spec.get("groupPriorityMinimum") or 0),
            int(spec.get("versionPriority") or 0),
            orjson.loads(body),
        )
        return apiservices.Availability("True", "Passed", "all checks passed"), entry

    async def _get(self, backend: apiservices.Backend, path: str) -> tuple[int, bytes]:
        assert self.session is not None
        check_loopback(backend.host)
        async with self.session.get(
            f"https://{backend.host}:{backend.port}{path}",
            ssl=self.ssl_context(backend),
            server_hostname=backend.server_name,
            headers={frontproxy.USER_HEADER: AGGREGATOR_USER, "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.check_timeout),
        ) as response:
            return response.status, await response.read()

    def ssl_context(self, backend: apiservices.Backend) -> Any:
        key = (backend.ca_bundle, backend.insecure)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self.front.ssl_context(*key)
        return context

    async def _set_condition(self, obj: Object, wanted: apiservices.Availability) -> None:
        updated = apiservices.with_condition(obj, wanted, times.now_rfc3339())
        if updated is None:
            return
        name = obj["metadata"]["name"]
        if wanted.status != "True" or wanted.reason != "Local":
            logger.info("apiservice %s: Available=%s (%s)", name, wanted.status, wanted.reason)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.registry.update(
                resources.APISERVICES, None, name, updated, "status", manager=MANAGER
            )

    # -- what discovery and the proxy ask -------------------------------------------------------
    def backend_for(self, group: str, version: str) -> Served | None:
        return self.served.get((group, version))

    def is_aggregated(self, group: str, version: str) -> bool:
        """True for a group version an APIService sends elsewhere (available or not)."""
        for obj in self.cache.cache(resources.APISERVICES).objects.values():
            spec = obj.get("spec") or {}
            if (spec.get("group"), spec.get("version")) == (group, version):
                return not apiservices.is_local(obj)
        return False

    def groups(self) -> list[tuple[str, list[Served]]]:
        """The available extension groups, their versions by priority (highest first)."""
        by_group: dict[str, list[Served]] = {}
        for entry in self.served.values():
            by_group.setdefault(entry.group, []).append(entry)
        ordered = sorted(by_group.items(), key=lambda item: -max(e.group_priority for e in item[1]))
        return [
            (group, sorted(entries, key=lambda e: -e.version_priority))
            for group, entries in ordered
        ]


def check_loopback(host: str) -> None:
    """minik8s proxies only to extension servers on this machine."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"{host} is not a loopback address; minik8s proxies only to this machine")
