"""Binding requests, the scheduler's one request per pod, over a lean aiohttp connection pool.

Profiling the scheduler (bench/scheduler.py under py-spy) showed 60% of its CPU in httpx's
client and connection pool for the `POST pods/<name>/binding` calls; aiohttp does the same
request for about a quarter of the CPU. The per-pod `Scheduled` Events go the same way (they
were 39% of the scheduler's CPU on httpx); everything else (informers, status, Leases, event
count updates) stays on the shared `ApiClient`. Errors map to the same `errors.ApiError` tree
(via the `Status` the apiserver sends), transport failures to `exceptions.ServerUnreachable`.
A failed binding is not retried here: the scheduler requeues the pod with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Protocol

import aiohttp
import orjson
import yarl

from minik8s.api import errors
from minik8s.api.resources import PODS
from minik8s.client import exceptions, tls
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import ClientConfig

logger = logging.getLogger(__name__)


class Binder(Protocol):
    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None: ...

    async def aclose(self) -> None: ...


def binding(namespace: str, pod_name: str, node_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod_name, "namespace": namespace},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    }


class ApiClientBinder:
    """Bindings through the shared `ApiClient` (httpx): simpler, heavier per request."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        await self.client.bind(namespace, pod_name, node_name)

    async def aclose(self) -> None:
        pass


class AiohttpBinder:
    """POSTs Bindings; create it inside the running event loop."""

    def __init__(self, config: ClientConfig, connections: int, timeout: float = 30.0) -> None:
        self.server = config.server.rstrip("/")
        verify = tls.tls_context(config)
        ssl_arg: ssl.SSLContext | bool = verify if isinstance(verify, ssl.SSLContext) else True
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": "minik8s-scheduler/0.1"}  # fmt: skip
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=ssl_arg, limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> None:
        path = PODS.object_path(namespace, pod_name) + "/binding"
        await self.post(path, binding(namespace, pod_name, node_name))

    async def post(self, path: str, obj: dict[str, Any]) -> None:
        """POST `obj` to `path`; also carries the `Scheduled` Events (one per pod as well)."""
        url = self.server + path
        body = orjson.dumps(obj)
        what = f"POST {url}"
        try:
            # API paths are made of DNS names: already encoded, so yarl need not check them
            async with self._session.post(yarl.URL(url, encoded=True), data=body) as response:
                content = await response.read()
                if 200 <= response.status < 300:
                    return
                status_code = response.status
        except TimeoutError as e:
            raise exceptions.RequestTimedOut(f"{what}: the apiserver did not answer") from e
        except aiohttp.ClientError as e:
            raise exceptions.ServerUnreachable(f"{what}: {e or type(e).__name__}") from e
        raise _error(content, status_code, what)

    async def aclose(self) -> None:
        await self._session.close()
        await asyncio.sleep(0)  # let aiohttp close its transports


def _error(content: bytes, status_code: int, what: str) -> errors.ApiError:
    status: dict[str, Any] = {}
    try:
        parsed = orjson.loads(content)
        if isinstance(parsed, dict):
            status = parsed
    except orjson.JSONDecodeError:
        pass
    if not status.get("message"):
        text = content.decode(errors="replace").strip()[:200]
        status = {**status, "message": f"{what}: HTTP {status_code} {text}".strip()}
    return errors.from_status(status, status_code)
