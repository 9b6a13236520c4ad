"""`pods/{name}/log` and `pods/{name}/exec`, proxied to the kubelet of the pod's node.

The kubelet's address is the node's InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`.
Only loopback kubelets are contacted (minik8s runs every node on this machine); another address
is refused with 503 rather than connected to. Exec is a WebSocket (`v5.channel.k8s.io` or
`v4.channel.k8s.io`) relayed frame by frame; SPDY is not supported and is answered with a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from starlette.datastructures import QueryParams
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from minik8s.api import errors
from minik8s.api.resources import NODES, PODS
from minik8s.apiserver import params, routing
from minik8s.apiserver.registry import Registry

logger = logging.getLogger(__name__)

Object = dict[str, Any]
LOG_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "limitBytes")
EXEC_PARAMS = ("command", "stdin", "stdout", "stderr", "tty")
SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
ERROR_CHANNEL = 3


def pick_container(pod: Object, requested: str | None) -> str:
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        raise errors.BadRequest(
            f"a container name must be specified for pod {name}, "
            f"choose one of: [{' '.join(containers)}]"
        )
    if requested not in containers:
        raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


def kubelet_address(node: Object) -> tuple[str, int]:
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP")
    name = node["metadata"]["name"]
    if not port or not host:
        raise errors.ServiceUnavailable(f"node {name} does not report a kubelet endpoint")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise errors.ServiceUnavailable(
            f"node {name}'s kubelet is at {host}, not on loopback; minik8s proxies only to "
            f"kubelets on this machine"
        )
    return host, int(port)


async def _target(registry: Registry, namespace: str, name: str, container: str | None
                  ) -> tuple[str, int, str]:  # fmt: skip
    pod = await registry.get(PODS, namespace, name)
    chosen = pick_container(pod, container)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned")
    host, port = kubelet_address(await registry.get(NODES, None, node_name))
    return host, port, chosen


async def logs(registry: Registry, namespace: str, name: str, query: QueryParams) -> Response:
    for numeric in ("tailLines", "sinceSeconds", "limitBytes"):  # 400 here, not at the kubelet
        params.integer(query, numeric)
    for flag in ("follow", "timestamps", "previous"):
        params.boolean(query, flag)
    host, port, container = await _target(registry, namespace, name, query.get("container"))
    forwarded = {k: query[k] for k in LOG_PARAMS if k in query}
    url = f"http://{host}:{port}/containerLogs/{namespace}/{name}/{container}"
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), trust_env=False)
    try:
        upstream = await client.send(
            client.build_request("GET", url, params=forwarded), stream=True
        )
    except httpx.HTTPError as e:
        await client.aclose()
        raise errors.ServiceUnavailable(f"the kubelet at {host}:{port} did not answer: {e}") from e
    if upstream.status_code != 200:
        body = await upstream.aread()
        await upstream.aclose()
        await client.aclose()
        media = upstream.headers.get("content-type", "application/json")
        return Response(body, upstream.status_code, media_type=media)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError as e:
            logger.info("log stream of %s/%s ended: %s", namespace, name, e)
        finally:
            await upstream.aclose()
            await client.aclose()

    return StreamingResponse(relay(), media_type="text/plain")


def exec_needs_websocket() -> errors.ApiError:
    return errors.BadRequest(
        "pods/exec needs a WebSocket upgrade with subprotocol v5.channel.k8s.io (kubectl 1.29+ "
        "does this); SPDY is not supported by minik8s"
    )


async def exec_websocket(registry: Registry, scope: Scope, receive: Receive, send: Send) -> None:
    """Relay an exec WebSocket between the client and the kubelet."""
    ws = WebSocket(scope, receive, send)
    target = routing.parse(scope["path"])
    offered = list(scope.get("subprotocols") or [])
    protocol = next((p for p in SUBPROTOCOLS if p in offered), None)
    if (
        not isinstance(target, routing.ResourcePath)
        or target.subresource != "exec"
        or (target.resource is not PODS or not target.name or not target.namespace)
    ):
        await ws.close(code=1008)
        return
    if protocol is None:
        await ws.close(code=1002)  # kubectl then tries SPDY, which gets the 400 above
        return
    query = QueryParams(scope.get("query_string", b""))
    try:
        host, port, container = await _target(
            registry, target.namespace, target.name, query.get("container")
        )
    except errors.ApiError as e:
        await ws.accept(subprotocol=protocol)
        await ws.send_bytes(bytes([ERROR_CHANNEL]) + orjson.dumps(e.to_status()))
        await ws.close()
        return
    params = urlencode([(k, v) for k, v in query.multi_items() if k in EXEC_PARAMS])
    url = f"ws://{host}:{port}/exec/{target.namespace}/{target.name}/{container}?{params}"
    try:
        upstream = await connect(url, subprotocols=[protocol], max_size=None, open_timeout=10)  # type: ignore[list-item]
    except (OSError, WebSocketException, TimeoutError) as e:
        await ws.accept(subprotocol=protocol)
        status = errors.ServiceUnavailable(f"the kubelet at {host}:{port}: {e}").to_status()
        await ws.send_bytes(bytes([ERROR_CHANNEL]) + orjson.dumps(status))
        await ws.close()
        return
    await ws.accept(subprotocol=protocol)

    async def down() -> None:
        async for message in upstream:
            await ws.send_bytes(message if isinstance(message, bytes) else message.encode())

    async def up() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            await upstream.send(data)

    down_task = asyncio.ensure_future(down())
    up_task = asyncio.ensure_future(up())
    try:
        await asyncio.wait({down_task, up_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (down_task, up_task):
            task.cancel()
        for task in (down_task, up_task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await upstream.close()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close()
