"""The DNS's process (CoreDNS's binary, kube-dns's `cmd/kube-dns/app/server.go`): informers on
Services and Endpoints, the zone, the listeners, /healthz. `main` is the `minik8s-dns`
command."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
from typing import Any

from minik8s.api import resources
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.componentbase import options, runner
from minik8s.componentbase.health import HealthServer
from minik8s.dns import config, metrics, records
from minik8s.dns.config import DnsSettings
from minik8s.dns.forward import Forwarder, Upstream
from minik8s.dns.listeners import DnsServer
from minik8s.dns.resolver import Resolver
from minik8s.dns.sync import BY_SERVICE, ZoneSync, slice_service
from minik8s.dns.zone import Zone

logger = logging.getLogger(__name__)


class Dns:
    """Everything of one DNS server, started and stopped together (tests use it directly)."""

    def __init__(self, settings: DnsSettings, client: ApiClient) -> None:
        self.settings = settings
        self.client = client
        self.zone = Zone(settings.cluster_domain, settings.ttl)
        self.services = Informer(client, resources.SERVICES, transform=records.compact_service)
        self.slices = Informer(
            client, resources.ENDPOINTSLICES, transform=records.compact_slice,
            indexers={BY_SERVICE: slice_service},
        )  # fmt: skip
        self.sync = ZoneSync(self.zone, self.services, self.slices)
        own = {(a, settings.port) for a in settings.bind_addresses}
        upstreams = [u for u in settings.upstreams if (u.host, u.port) not in own]
        self.forwarder = Forwarder(
            upstreams, timeout=settings.upstream_timeout, cache_size=settings.cache_size,
            max_ttl=settings.cache_max_ttl, negative_ttl=min(settings.cache_max_ttl, 5),
        )  # fmt: skip
        self.metrics = metrics.DnsMetrics()
        self.server = DnsServer(
            Resolver(self.zone, self.sync.endpoint_names), self.forwarder, self.metrics,
            tcp_idle=settings.tcp_idle,
        )  # fmt: skip
        self.health = HealthServer(
            settings.healthz.bind_address, max(settings.healthz.port, 0),
            liveness={"dns": lambda: bool(self.server.addresses)},
            readiness={"informers-synced": lambda: self.sync.ready},
        )  # fmt: skip
        self._unregister: Any = None

    @property
    def upstreams(self) -> list[Upstream]:
        return self.forwarder.upstreams

    async def start(self) -> None:
        collector = metrics.DnsCollector(
            self.metrics, self.forwarder, lambda: self.zone.size, lambda: self.zone.owners
        )
        self._unregister = metrics.register(collector)
        await self.server.start([(a, self.settings.port) for a in self.settings.bind_addresses])
        if self.settings.healthz.port >= 0:
            await self.health.start()
        self.services.start()
        self.slices.start()
        logger.info(
            "dns: zone %s, ttl %ds, upstreams %s",
            self.zone.domain, self.zone.ttl, ", ".join(map(str, self.upstreams)) or "none",
        )  # fmt: skip

    async def wait_synced(self, timeout: float | None = None) -> bool:
        synced = await self.services.wait_synced(timeout)
        return synced and await self.slices.wait_synced(timeout)

    async def stop(self) -> None:
        await self.services.stop()
        await self.slices.stop()
        await self.server.stop()
        await self.health.stop()
        if self._unregister is not None:
            self._unregister()
            self._unregister = None


def main(argv: list[str] | None = None) -> None:
    """`minik8s-dns`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "minik8s-dns", settings.log_level)


async def run(settings: DnsSettings, stop: asyncio.Event) -> None:
    client = ApiClient(options.load_client_config(settings.client))
    dns = Dns(settings, client)
    try:
        await dns.start()
        synced = tasks.spawn(_log_synced(dns), "dns sync log")
        await stop.wait()
        synced.cancel()
    finally:
        await dns.stop()
        with contextlib.suppress(Exception):
            await client.aclose()


async def _log_synced(dns: Dns) -> None:
    await dns.wait_synced()
    gc.collect()
    gc.freeze()  # the caches and the zone live on: full collections need not walk them
    _trim_heap()
    logger.info(
        "dns: informers synced: %d services, %d answers in the zone",
        dns.zone.owners - 1, dns.zone.size,
    )  # fmt: skip


def _trim_heap() -> None:
    """Give the memory of the initial lists (the whole JSON of every Service and EndpointSlice,
    freed once compacted) back to the system: glibc keeps freed heap otherwise."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


if __name__ == "__main__":
    main()
