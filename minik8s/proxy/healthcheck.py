"""`healthCheckNodePort`: kube-proxy tells a load balancer whether this node has endpoints.

A LoadBalancer Service with `externalTrafficPolicy: Local` gets a health check node port from
the apiserver; kube-proxy listens on it (on every address of the node, or on the
`--nodeport-addresses` ones, as Kubernetes does) and answers any GET with 200 when the node
has ready endpoints of the Service and 503 when it has none, with Kubernetes' JSON body:

    {"service": {"namespace": "default", "name": "web"}, "localEndpoints": 2,
     "serviceProxyHealthy": true}

so that a load balancer sends external traffic only to nodes that can keep it local. The
servers follow the Services after each successful sync (`sync`). `health_check_ports` and
`local_endpoint_counts` are pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import endpointslices, serviceutil

logger = logging.getLogger(__name__)

ServiceName = endpointslices.ServiceName


def health_check_ports(services: Iterable[Mapping[str, Any]]) -> dict[ServiceName, int]:
    """The Services that need a health check, and its port."""
    ports = {}
    for service in services:
        spec = service.get("spec") or {}
        port = spec.get("healthCheckNodePort")
        if serviceutil.needs_health_check(spec) and isinstance(port, int) and 0 < port < 65536:
            meta = service.get("metadata") or {}
            ports[(meta.get("namespace") or "", meta.get("name") or "")] = port
    return ports


def local_endpoint_counts(
    slices: Iterable[Mapping[str, Any]], wanted: Iterable[ServiceName], node_name: str
) -> dict[ServiceName, int]:
    """Ready endpoint addresses on `node_name` of each wanted Service (0 when none), from its
    EndpointSlices."""
    local: dict[ServiceName, set[str]] = {key: set() for key in wanted}
    for key, found in endpointslices.by_service(slices).items():
        if key not in local:
            continue
        for slice_ in found:
            for endpoint in slice_.get("endpoints") or ():
                addresses = endpoint.get("addresses") or ()
                if (
                    addresses
                    and endpoint.get("nodeName") == node_name
                    and endpointslices.conditions(endpoint).ready
                ):
                    local[key].add(addresses[0])
    return {key: len(ips) for key, ips in local.items()}


def body(name: ServiceName, count: int, healthy: bool) -> bytes:
    document = {
        "service": {"namespace": name[0], "name": name[1]},
        "localEndpoints": count,
        "serviceProxyHealthy": healthy,
    }
    return json.dumps(document, indent="\t").encode()


@dataclass
class _Listener:
    port: int
    servers: list[asyncio.Server] = field(default_factory=list)


class ServiceHealthServer:
    """One HTTP listener per Service that needs a health check."""

    def __init__(
        self,
        addresses: tuple[str, ...] = ("0.0.0.0",),
        proxy_healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self.addresses = addresses
        """Where each health check port listens (`--nodeport-addresses` would narrow it)."""
        self.proxy_healthy = proxy_healthy
        self._listeners: dict[ServiceName, _Listener] = {}
        self._counts: dict[ServiceName, int] = {}

    @property
    def ports(self) -> dict[ServiceName, int]:
        return {name: listener.port for name, listener in self._listeners.items()}

    async def sync(
        self,
        ports: Mapping[ServiceName, int],
        counts: Mapping[ServiceName, int],
        addresses: tuple[str, ...] | None = None,
    ) -> None:
        """Listen on exactly `ports` (on `addresses`, when given: the `--nodeport-addresses`
        ones); answer with `counts` from now on."""
        self._counts = dict(counts)
        if addresses is not None and addresses != self.addresses:
            await self.close()  # reopened below on the new addresses
            self.addresses = addresses
        for name, listener in list(self._listeners.items()):
            if ports.get(name) != listener.port:
                await self._close(name)
        for name, port in ports.items():
            if name in self._listeners:
                continue
            listener = _Listener(port)
            try:
                for address in self.addresses:
                    listener.servers.append(
                        await asyncio.start_server(self._handler(name), address, port)
                    )
            except OSError as e:
                logger.warning("service %s/%s: cannot serve its health check on port %d: %s",
                               name[0], name[1], port, e)  # fmt: skip
                await _close_all(listener)
                continue
            self._listeners[name] = listener
            logger.info("service %s/%s: serving its health check on port %d", *name, port)

    async def close(self) -> None:
        for name in list(self._listeners):
            await self._close(name)

    async def _close(self, name: ServiceName) -> None:
        listener = self._listeners.pop(name)
        await _close_all(listener)
        logger.info("service %s/%s: health check on port %d closed", *name, listener.port)

    def answer(self, name: ServiceName) -> tuple[int, bytes]:
        count = self._counts.get(name, 0)
        healthy = self.proxy_healthy()
        return (200 if count and healthy else 503), body(name, count, healthy)

    def _handler(self, name: ServiceName) -> Callable[..., Any]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                    pass
                code, content = self.answer(name)
                reason = "OK" if code == 200 else "Service Unavailable"
                writer.write(
                    f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
                    f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(content)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + content
                )
                await writer.drain()
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()

        return handle


async def _close_all(listener: _Listener) -> None:
    for server in listener.servers:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
