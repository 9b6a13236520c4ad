"""The metrics server process (metrics-server's `cmd/metrics-server/app`): informers on nodes
and pods, the scrape loop, the HTTPS API, and its registration with the aggregation layer.
`main` is the `minik8s-metrics-server` command.

Why a separate, aggregated server (as metrics-server is) rather than the apiserver itself:
scraping every kubelet each resolution is a component's periodic work with its own identity
(`nodes/metrics`), not request handling; keeping it out of the apiserver keeps the apiserver
free of kubelet traffic, and it shows the aggregation layer for real: discovery lists
metrics.k8s.io only while this process answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import socket
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from minik8s import pki
from minik8s.api import resources
from minik8s.client import tasks
from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.informer import InformerFactory, metadata_only
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.componentbase import httpserving, runner
from minik8s.metricsserver import config, registration, storage
from minik8s.metricsserver.config import MetricsServerSettings
from minik8s.metricsserver.httpserver import MetricsApi
from minik8s.metricsserver.scraper import Scraper

logger = logging.getLogger(__name__)

AUTH_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")
REQUESTHEADER_CA = "requestheader-client-ca-file"


async def _front_proxy_ca(client: ApiClient, stop: asyncio.Event) -> str:
    """The request-header CA the apiserver publishes (waits until it does)."""
    namespace, name = AUTH_CONFIGMAP
    while not stop.is_set():
        try:
            configmap = await client.get(resources.CONFIGMAPS, name, namespace)
            ca = (configmap.get("data") or {}).get(REQUESTHEADER_CA)
            if ca:
                return str(ca)
        except Exception as e:  # not there yet, or the apiserver is still starting
            logger.info("waiting for %s/%s: %s", namespace, name, e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    raise asyncio.CancelledError


def _bind(settings: MetricsServerSettings) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.bind_address, settings.secure_port))
    return sock


async def run(settings: MetricsServerSettings, stop: asyncio.Event) -> None:
    config = load_kubeconfig(settings.client.kubeconfig)
    temp_dir = None
    cert_dir = Path(settings.cert_dir) if settings.cert_dir else None
    if cert_dir is None:
        temp_dir = cert_dir = Path(tempfile.mkdtemp(prefix="minik8s-metrics-server-"))
    name, namespace = settings.service_name, settings.service_namespace
    serving = pki.ensure_serving_certificate(
        cert_dir, ("127.0.0.1", "localhost", f"{name}.{namespace}.svc", settings.advertise_address)
    )
    async with ApiClient(config, ClientSettings(user_agent="minik8s-metrics-server/0.1")) as client:
        factory = InformerFactory(client)
        nodes = factory.informer(resources.NODES)
        # metrics-server's running-pod informer is a metadata informer: a PodMetrics needs the
        # pod's name, namespace and labels, and its field selectors see only metadata.
        pods = factory.informer(
            resources.PODS, field_selector="status.phase=Running", transform=metadata_only
        )
        factory.start()
        await factory.wait_synced()
        ca = await _front_proxy_ca(client, stop)
        ca_file = cert_dir / "requestheader-ca.crt"
        ca_file.write_text(ca)
        store = storage.Storage()
        metrics_api = MetricsApi(store, nodes.store.list, pods.store.list, lambda: store.previous)
        sock = _bind(settings)
        port = sock.getsockname()[1]
        server = httpserving.ComponentServer(
            uvicorn.Config(
                metrics_api.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                ssl_certfile=str(serving.cert),
                ssl_keyfile=str(serving.key),
                ssl_ca_certs=str(ca_file),
                ssl_cert_reqs=ssl.CERT_REQUIRED,
                timeout_graceful_shutdown=2,
            )
        )
        serving_task = tasks.spawn(server.serve(sockets=[sock]), "metrics-server-https")
        logger.info("serving metrics.k8s.io/v1beta1 on https://%s:%d", settings.bind_address, port)
        async with Scraper(settings, config) as scraper:
            scraping = tasks.spawn(
                _scrape_loop(scraper, store, nodes.store.list, settings, stop), "scrape"
            )
            try:
                if settings.register:
                    await registration.register(
                        client, namespace, name, port, serving.ca_cert.read_bytes()
                    )
                await stop.wait()
            finally:
                if settings.register:
                    await registration.deregister(client, namespace, name)
                scraping.cancel()
                server.request_exit()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(serving_task, 5)
                with contextlib.suppress(asyncio.CancelledError):
                    await scraping
                await factory.stop()
                if temp_dir is not None:
                    shutil.rmtree(temp_dir, ignore_errors=True)


async def _scrape_loop(
    scraper: Scraper,
    store: storage.Storage,
    list_nodes: Callable[[], list[dict[str, Any]]],
    settings: MetricsServerSettings,
    stop: asyncio.Event,
) -> None:
    """Scrape every node each resolution; a node that fails keeps its last samples."""
    while not stop.is_set():
        started = asyncio.get_running_loop().time()
        current = list_nodes()
        scrapes = await scraper.scrape_all(current)
        for node, scrape in scrapes.items():
            store.store(node, scrape)
        store.forget({n["metadata"]["name"] for n in current})
        logger.debug("scraped %d/%d nodes", len(scrapes), len(current))
        elapsed = asyncio.get_running_loop().time() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, settings.metric_resolution - elapsed))


def main(argv: list[str] | None = None) -> None:
    """`minik8s-metrics-server`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "minik8s-metrics-server", settings.log_level)


if __name__ == "__main__":
    main()
