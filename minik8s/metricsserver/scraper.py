"""Scraping the kubelets' `/metrics/resource`, every node at once, every metric resolution.

A kubelet is reached at its node's InternalIP and `status.daemonEndpoints.kubeletEndpoint`
port, with the metrics server's own credentials (the client certificate or bearer token of
its kubeconfig) so an authenticating kubelet can authorize `get nodes/metrics`. Its serving
certificate is checked against `--kubelet-certificate-authority` (default: the kubeconfig's
CA) unless `--kubelet-insecure-tls`. With `--kubelet-scheme=auto` a kubelet that does not
speak TLS (hollow nodes, and every kubelet before the API was locked down) is scraped over
plain HTTP, remembered per node. Only loopback kubelets are contacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from typing import Any

import aiohttp

from minik8s.api.meta import Object
from minik8s.client.kubeconfig import ClientConfig
from minik8s.client.tls import tls_context
from minik8s.metricsserver import storage
from minik8s.metricsserver.config import MetricsServerSettings

logger = logging.getLogger(__name__)

PATH = "/metrics/resource"


def kubelet_endpoint(node: Object) -> tuple[str, int] | None:
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP")
    if not port or not host:
        return None
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        return None
    return host, int(port)


class Scraper:
    def __init__(self, settings: MetricsServerSettings, config: ClientConfig) -> None:
        self.settings = settings
        self.config = config
        self.session: aiohttp.ClientSession | None = None
        self._schemes: dict[str, str] = {}
        self._ssl = self._context()

    def _context(self) -> ssl.SSLContext:
        base = tls_context(self.config)
        context = base if isinstance(base, ssl.SSLContext) else ssl.create_default_context()
        if self.settings.kubelet_certificate_authority:
            context.load_verify_locations(self.settings.kubelet_certificate_authority)
        if self.settings.kubelet_insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.check_hostname = False  # kubelet certificates name the node, not its IP
        return context

    async def __aenter__(self) -> Scraper:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.kubelet_request_timeout)
        )
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self.session is not None:
            await self.session.close()

    async def scrape_all(self, nodes: list[Object]) -> dict[str, storage.Scrape]:
        names = [n["metadata"]["name"] for n in nodes]
        results = await asyncio.gather(*(self.scrape(n) for n in nodes), return_exceptions=True)
        out: dict[str, storage.Scrape] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning(
                    "scrape of node %s failed: %s", name, result or type(result).__name__
                )
            elif result is not None:
                out[name] = result
        return out

    async def scrape(self, node: Object) -> storage.Scrape | None:
        name = node["metadata"]["name"]
        endpoint = kubelet_endpoint(node)
        if endpoint is None:
            return None
        host, port = endpoint
        scheme = self._schemes.get(name) or (
            "https" if self.settings.kubelet_scheme in ("auto", "https") else "http"
        )
        try:
            text = await self._get(scheme, host, port)
        except (aiohttp.ClientSSLError, aiohttp.ServerDisconnectedError, ssl.SSLError) as e:
            if self.settings.kubelet_scheme != "auto" or scheme == "http":
                raise
            scheme = "http"
            if answered_in_plain_text(e):
                # it does not speak TLS: remember it now, whether or not the plain request
                # succeeds (a busy kubelet must not get a ClientHello every scrape). Any other
                # failure (a kubelet still serving its self-signed certificate, one restarting)
                # is remembered only once the plain request works
                self._schemes[name] = scheme
            text = await self._get(scheme, host, port)
        self._schemes[name] = scheme
        return storage.parse(text)

    async def _get(self, scheme: str, host: str, port: int) -> str:
        assert self.session is not None
        headers = {"Accept": "text/plain"}
        if self.config.token and scheme == "https":  # a token only over TLS
            headers["Authorization"] = f"Bearer {self.config.token}"
        async with self.session.get(
            f"{scheme}://{host}:{port}{PATH}",
            headers=headers,
            ssl=self._ssl if scheme == "https" else False,
        ) as response:
            if response.status != 200:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status,
                    message=f"GET {PATH}: {response.status} {(await response.text())[:200]}",
                )  # fmt: skip
            return await response.text()


def answered_in_plain_text(e: BaseException) -> bool:
    """Whether a TLS handshake failed because the server answered in plain text (OpenSSL:
    WRONG_VERSION_NUMBER), not because of its certificate or a dropped connection."""
    inner = getattr(e, "os_error", None) or e.__cause__ or e
    return isinstance(inner, ssl.SSLError) and inner.reason == "WRONG_VERSION_NUMBER"
