"""`pods/{name}/log` and `nodes/{name}/proxy/…`, proxied to kubelets (exec, attach and
port-forward are upgraded connections: `streamproxy.py`).

The kubelet's address is the node's InternalIP and `status.daemonEndpoints.kubeletEndpoint.Port`,
on any node (as Kubernetes does). With `--kubelet-client-certificate/--kubelet-client-key`
the apiserver speaks HTTPS to kubelets and shows that certificate (the kubelet authenticates
and authorizes it: `nodes/proxy`, `nodes/log`, …); with `--kubelet-certificate-authority` it
verifies the kubelet's serving certificate, issued by the cluster CA for the node's name (the
address the node reports is not trusted to prove anything). Without a client certificate it
speaks plain HTTP, for kubelets started without TLS (tests, hollow nodes).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.datastructures import QueryParams
from starlette.responses import Response, StreamingResponse

from minik8s.api import errors
from minik8s.api.meta import Object
from minik8s.api.resources import NODES, PODS
from minik8s.apiserver import params
from minik8s.apiserver.registry import Registry

logger = logging.getLogger(__name__)

LOG_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "limitBytes")


def _names(pod: Object, key: str) -> list[str]:
    return [c["name"] for c in (pod.get("spec") or {}).get(key) or []]


def pick_container(pod: Object, requested: str | None) -> str:
    """The container a log, exec or attach addresses, as Kubernetes' streamLocation picks it
    (any container, init container or ephemeral container may be named)."""
    name = pod["metadata"]["name"]
    containers = _names(pod, "containers")
    if not requested:
        if len(containers) == 1:
            return containers[0]
        message = (
            f"a container name must be specified for pod {name}, "
            f"choose one of: [{' '.join(containers)}]"
        )
        if init := _names(pod, "initContainers"):
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.BadRequest(message)
    every = containers + _names(pod, "initContainers") + _names(pod, "ephemeralContainers")
    if requested not in every:
        raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


@dataclass(frozen=True)
class Kubelet:
    """Where a node's kubelet answers, and the name its serving certificate is issued for."""

    node: str
    host: str
    port: int


def kubelet_address(node: Object) -> Kubelet:
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("Hostname")
    name = node["metadata"]["name"]
    if not port or not host:
        raise errors.ServiceUnavailable(f"node {name} does not report a kubelet endpoint")
    return Kubelet(name, str(host), int(port))


async def _node_of(registry: Registry, namespace: str, name: str, container: str | None
                   ) -> tuple[Kubelet, str]:  # fmt: skip
    pod = await registry.get(PODS, namespace, name)
    chosen = pick_container(pod, container)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned")
    return kubelet_address(await registry.get(NODES, None, node_name)), chosen


class KubeletClient:
    """How the apiserver reaches kubelets: scheme, client certificate, server verification."""

    def __init__(self, tls: ssl.SSLContext | None = None, verify_names: bool = False) -> None:
        self.tls = tls
        self.verify_names = verify_names

    @classmethod
    def from_settings(cls, settings: Any) -> KubeletClient:
        cert = settings.kubelet_client_certificate
        if not cert:
            return cls()
        authority = settings.kubelet_certificate_authority
        context = (
            ssl.create_default_context(cafile=authority)
            if authority
            else (ssl.create_default_context())
        )
        if not authority:  # Kubernetes' default: kubelets' serving certificates are not checked
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(cert, settings.kubelet_client_key)
        return cls(context, verify_names=bool(authority))

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None),
            trust_env=False,
            verify=self.tls if self.tls is not None else False,
        )

    def _extensions(self, kubelet: Kubelet) -> dict[str, Any]:
        return {"sni_hostname": kubelet.node} if self.verify_names else {}

    async def _open(
        self, kubelet: Kubelet, method: str, path: str, params: Any = None, body: bytes = b""
    ) -> tuple[httpx.AsyncClient, httpx.Response]:
        url = f"{self.scheme}://{kubelet.host}:{kubelet.port}{path}"
        client = self._client()
        request = client.build_request(
            method, url, params=params, content=body or None, extensions=self._extensions(kubelet)
        )
        try:
            return client, await client.send(request, stream=True)
        except httpx.HTTPError as e:
            await client.aclose()
            raise errors.ServiceUnavailable(
                f"the kubelet of node {kubelet.node} at {kubelet.host}:{kubelet.port} did not "
                f"answer: {e}"
            ) from e

    async def _relay(
        self, client: httpx.AsyncClient, upstream: httpx.Response, what: str, media: str
    ) -> Response:
        if upstream.status_code >= 300:
            body = await upstream.aread()
            await upstream.aclose()
            await client.aclose()
            content_type = upstream.headers.get("content-type", "application/json")
            return Response(body, upstream.status_code, media_type=content_type)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            except httpx.HTTPError as e:
                logger.info("%s ended: %s", what, e)
            finally:
                await upstream.aclose()
                await client.aclose()

        return StreamingResponse(relay(), media_type=upstream.headers.get("content-type", media))

    async def logs(
        self, registry: Registry, namespace: str, name: str, query: QueryParams
    ) -> Response:
        for numeric in ("tailLines", "sinceSeconds", "limitBytes"):  # 400 here, not at the kubelet
            params.integer(query, numeric)
        for flag in ("follow", "timestamps", "previous"):
            params.boolean(query, flag)
        kubelet, container = await _node_of(registry, namespace, name, query.get("container"))
        forwarded = {k: query[k] for k in LOG_PARAMS if k in query}
        path = f"/containerLogs/{namespace}/{name}/{container}"
        client, upstream = await self._open(kubelet, "GET", path, forwarded)
        response = await self._relay(client, upstream, f"log stream of {namespace}/{name}", "")
        if response.status_code < 300:  # an error keeps the kubelet's Status, for the client
            response.headers["content-type"] = "text/plain"
        return response

    async def node_proxy(
        self, registry: Registry, request: Any, node_name: str, path: str
    ) -> Response:
        """`nodes/<name>/proxy/<path>`: the kubelet's own API (e.g. /healthz, /pods, /metrics)."""
        kubelet = kubelet_address(await registry.get(NODES, None, node_name))
        body = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
        client, upstream = await self._open(
            kubelet, request.method, path or "/", list(request.query_params.multi_items()), body
        )
        return await self._relay(client, upstream, f"proxy to node {node_name}", "text/plain")
