"""`pods/{name}/exec|attach|portforward`: the upgraded connection relayed to the pod's kubelet.

As Kubernetes' UpgradeAwareHandler does it: once the request is authenticated and authorized
(`create` on the subresource) and the pod, container and node are known, the apiserver opens a
connection to the kubelet (HTTPS with `--kubelet-client-certificate`, the kubelet's name
checked against `--kubelet-certificate-authority`), sends the same upgrade request to the
kubelet's `/exec|/attach|/portForward` path — only the headers an upgrade needs, never the
client's credentials — and from then on copies bytes both ways. Whatever the protocol (SPDY,
WebSocket channels, SPDY tunnelled in a WebSocket) the kubelet answers the handshake and
speaks it; the apiserver never parses a frame, so a stream costs it one TLS decrypt and one
encrypt per byte, and back-pressure passes through (a side that stops reading pauses the
other). A refusal by the kubelet (401, 403, 404, 400) reaches the client as the kubelet wrote it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams

from minik8s.api import errors
from minik8s.api.resources import NODES, PODS
from minik8s.apiserver import routing
from minik8s.apiserver.kubeletproxy import Kubelet, KubeletClient, kubelet_address, pick_container
from minik8s.apiserver.registry import Registry
from minik8s.componentbase.upgrade import RawConnection, Upgrade, respond_json

logger = logging.getLogger(__name__)

CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
KUBELET_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}
PARAMS = {
    "exec": ("command", "stdin", "stdout", "stderr", "tty"),
    "attach": ("stdin", "stdout", "stderr", "tty"),
    "portforward": ("ports",),
}
FORWARDED_HEADERS = (
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
    "user-agent",
)
"""What the kubelet needs of the client's request; Authorization and Impersonate-* stay here."""
CONNECT_TIMEOUT = 10.0


def is_connect_path(path: str) -> bool:
    """True for `/api/v1/namespaces/<ns>/pods/<name>/exec|attach|portforward` (pure)."""
    parts = path.split("/")
    return (
        len(parts) == 8
        and parts[1] == "api"
        and parts[3] == "namespaces"
        and parts[5] == "pods"
        and parts[7] in CONNECT_SUBRESOURCES
    )


def kubelet_request(scope: Any, kubelet: Kubelet, path: str, query: list[tuple[str, str]]) -> bytes:
    """The upgrade request to send to the kubelet (pure)."""
    target = path + (f"?{urlencode(query)}" if query else "")
    method = scope.get("method", "GET")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {kubelet.host}:{kubelet.port}"]
    for key, value in scope["headers"]:
        name = key.decode("latin-1").lower()
        if name in FORWARDED_HEADERS:
            lines.append(f"{name}: {value.decode('latin-1')}")
    if method != "GET":
        lines.append("content-length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def resolve(registry: Registry, target: routing.ResourcePath, query: QueryParams
                  ) -> tuple[Kubelet, str]:  # fmt: skip
    """The kubelet and its path for this request; ApiError (4xx) as Kubernetes refuses."""
    assert target.namespace is not None and target.name is not None
    sub = target.subresource or ""
    pod = await registry.get(PODS, target.namespace, target.name)
    path = f"/{KUBELET_PATHS[sub]}/{quote(target.namespace)}/{quote(target.name)}"
    if sub in ("exec", "attach"):
        container = pick_container(pod, query.get("container"))
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            verb = "exec into" if sub == "exec" else "attach to"
            raise errors.BadRequest(
                f"cannot {verb} a container in a completed pod; current phase is {phase}"
            )
        path += f"/{quote(container)}"
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {target.name} does not have a host assigned")
    return kubelet_address(await registry.get(NODES, None, node_name)), path


async def serve(
    registry: Registry,
    kubelets: KubeletClient,
    scope: Any,
    upgrade: Upgrade,
    responded: Callable[[int], None] | None = None,
) -> None:
    """Relay the upgraded connection; raises ApiError before claiming it (a plain refusal).
    Once it is claimed, `responded` gets the status: 101 when the request is on its way to
    the kubelet (whose own answer passes through unread), else the refusal's code."""
    target = routing.parse(scope["path"])
    if not isinstance(target, routing.ResourcePath) or target.subresource not in PARAMS:
        raise errors.NotFound("the server could not find the requested resource")
    query = QueryParams(scope.get("query_string", b""))
    kubelet, path = await resolve(registry, target, query)
    allowed = PARAMS[target.subresource or ""]
    forwarded = [(k, v) for k, v in query.multi_items() if k in allowed]
    client = upgrade.claim()
    try:
        upstream = await open_raw(kubelets, kubelet, CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as e:
        where = f"{kubelet.host}:{kubelet.port}"
        error = errors.ServiceUnavailable(
            f"error dialing backend: the kubelet of node {kubelet.node} at {where}: {e}"
        )
        if responded is not None:
            responded(error.code)
        respond_json(client, error.code, error.to_status())
        return
    upstream.write(kubelet_request(scope, kubelet, path, forwarded))
    logger.info(
        "%s %s/%s relayed to the kubelet of %s",
        target.subresource,
        target.namespace,
        target.name,
        kubelet.node,
    )
    if responded is not None:
        responded(101)
    await splice(client, upstream)


async def splice(a: RawConnection, b: RawConnection) -> None:
    """Copy bytes both ways until either side closes; each side's back-pressure pauses the
    other's reading."""
    a.on_pause_writing.append(b.pause_reading)
    a.on_resume_writing.append(b.resume_reading)
    b.on_pause_writing.append(a.pause_reading)
    b.on_resume_writing.append(a.resume_reading)
    a.consume(b.write, b.close)
    b.consume(a.write, a.close)
    try:
        await a.wait_closed()
        await b.wait_closed()
    finally:
        a.close()
        b.close()


async def open_raw(kubelets: KubeletClient, kubelet: Kubelet, timeout: float) -> RawConnection:
    loop = asyncio.get_running_loop()
    extra: dict[str, Any] = {}
    if kubelets.tls is not None:
        extra["ssl"] = kubelets.tls
        extra["server_hostname"] = kubelet.node if kubelets.verify_names else kubelet.host
    _, connection = await asyncio.wait_for(
        loop.create_connection(RawConnection, kubelet.host, kubelet.port, **extra), timeout
    )
    return connection
