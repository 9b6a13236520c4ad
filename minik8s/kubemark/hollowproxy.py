"""kubemark's hollow kube-proxy: the real informers and sync loop, rules rendered, never applied
(or, as kubemark's `--use-real-proxier=false`, the informers only: nothing rendered).

`NullNetfilter` stands where iptables would: it keeps the chains each restore wrote (so the
syncer's full resyncs see "the kernel" as it left it) and counts what it was asked to apply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from minik8s.api import endpointslices, resources
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.proxy.config import ProxySettings
from minik8s.proxy.restore import ChainKey, Jump
from minik8s.proxy.syncer import Syncer

logger = logging.getLogger(__name__)


@dataclass
class NullNetfilter:
    """A `proxy.iptables.Netfilter` that applies nothing (kubemark's fake iptables)."""

    node_ip: str = "127.0.0.1"
    chains: set[ChainKey] = field(default_factory=set)
    restores: int = 0
    """iptables-restore inputs received."""
    bytes_rendered: int = 0

    async def prepare(self) -> None:
        return None

    async def local_addresses(self) -> list[str]:
        return [self.node_ip]

    async def list_chains(self) -> set[ChainKey]:
        return set(self.chains)

    async def missing_jumps(self, existing: set[ChainKey]) -> list[Jump]:
        return []

    async def restore(self, text: str) -> None:
        self.restores += 1
        self.bytes_rendered += len(text)
        table = ""
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                self.chains.add((table, line[1:].split(" ", 1)[0]))
            elif line.startswith("-X "):
                self.chains.discard((table, line[3:].strip()))

    async def cleanup(self) -> None:
        self.chains.clear()


async def run(
    settings: ProxySettings, client: ApiClient, stop: asyncio.Event, real: bool = True
) -> None:
    """One hollow proxy until `stop`: Services and EndpointSlices informers feeding the real syncer;
    with `real` false (kubemark's `--use-real-proxier=false`), the informers alone."""
    selector = endpointslices.PROXY_SELECTOR
    services = Informer(client, resources.SERVICES, label_selector=selector,
                        name=f"services@{settings.node_name}")  # fmt: skip
    endpoints = Informer(client, resources.ENDPOINTSLICES, label_selector=selector,
                         name=f"endpointslices@{settings.node_name}")  # fmt: skip
    if not real:
        await _watch_only(services, endpoints, stop)
        return
    netfilter = NullNetfilter()
    syncer = Syncer(settings, netfilter, services, endpoints)
    services.start()
    endpoints.start()
    sync = asyncio.create_task(syncer.run(), name=f"hollow proxy {settings.node_name}")
    try:
        await stop.wait()
    finally:
        sync.cancel()
        try:
            await sync
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("hollow proxy %s: the syncer failed", settings.node_name)
        await services.stop()
        await endpoints.stop()
        syncer.close()


async def _watch_only(services: Informer, endpoints: Informer, stop: asyncio.Event) -> None:
    """Kubernetes' kubemark `FakeProxier`: its proxy server's Service and EndpointSlice informers
    run (what the apiserver sends every node), its handlers and sync loop do nothing."""
    services.start()
    endpoints.start()
    try:
        await stop.wait()
    finally:
        await services.stop()
        await endpoints.stop()
