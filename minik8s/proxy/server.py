"""kube-proxy's process (Kubernetes' `cmd/kube-proxy/app/server.go`): informers on Services and
Endpoints, the syncer, /healthz, cleanup. `main` is the `minik8s-proxy` command."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from minik8s.api import endpointslices, resources
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.componentbase import hostlock, options, runner
from minik8s.componentbase.events import EventRecorder
from minik8s.componentbase.health import HealthServer
from minik8s.proxy import config, healthcheck, iptables
from minik8s.proxy.config import ProxySettings
from minik8s.proxy.syncer import Syncer

logger = logging.getLogger(__name__)

ALL = ("0.0.0.0",)
"""Where health check node ports listen without `--nodeport-addresses`."""
SYNCED = "SyncedProxyRules"
"""The reason of the Event on its Node each successful rule sync bumps (one Event per node,
its `count` patched per sync: the dashboard draws each as a token on the node's kube-proxy)."""
SYNCED_MESSAGE = "Synced the iptables rules"


def node_ref(node_name: str) -> dict[str, Any]:
    """The Node as kube-proxy's Events name it (kube-proxy's nodeRef: uid = the node's name)."""
    return {"kind": "Node", "apiVersion": "v1", "metadata": {"name": node_name, "uid": node_name}}


def host_of(settings: ProxySettings) -> iptables.Host:
    return iptables.Host(
        service_cidr=settings.service_cluster_ip_range,
        bridge=settings.bridge_name,
        localnet=settings.localhost_node_ports,
        state_file=settings.state_file,
    )


async def run(settings: ProxySettings, stop: asyncio.Event) -> None:
    """Program the rules until `stop` is set, then remove them (as `--cleanup` does).

    While another proxy holds the host lock this one waits (a standby, as with two clusters on
    one machine) and touches nothing, not even on exit.
    """
    lock = hostlock.try_lock(settings.lock_file)
    if lock is None:
        if settings.cleanup:
            raise RuntimeError(f"another minik8s-proxy holds {settings.lock_file}; stop it first")
        logger.warning("another minik8s-proxy holds %s: waiting for it to exit",
                       settings.lock_file)  # fmt: skip
        while lock is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                return
            lock = hostlock.try_lock(settings.lock_file)
        logger.info("took over %s", settings.lock_file)
    with lock:
        await _run(settings, stop)


async def _run(settings: ProxySettings, stop: asyncio.Event) -> None:
    host = host_of(settings)
    if settings.cleanup:
        await host.cleanup()
        logger.info("cleanup done")
        return
    client = ApiClient(options.load_client_config(settings.client))
    # kube-proxy's informers: Services and EndpointSlices, without headless ones or those
    # another proxy serves (`service.kubernetes.io/service-proxy-name`)
    services = Informer(client, resources.SERVICES, label_selector=endpointslices.PROXY_SELECTOR)
    slices = Informer(
        client, resources.ENDPOINTSLICES, label_selector=endpointslices.PROXY_SELECTOR
    )
    health_checks = healthcheck.ServiceHealthServer()
    recorder = EventRecorder(client, "kube-proxy", host=settings.node_name, writers=1)
    node = node_ref(settings.node_name)

    async def after_sync(svcs: list[dict], found: list[dict]) -> None:
        ports = healthcheck.health_check_ports(svcs)
        counts = healthcheck.local_endpoint_counts(found, ports, settings.node_name)
        addresses = syncer.options.node_port_addresses
        await health_checks.sync(ports, counts, ALL if addresses is None else addresses)
        if settings.sync_events and settings.node_name:
            recorder.record(node, "Normal", SYNCED, SYNCED_MESSAGE)

    syncer = Syncer(settings, host, services, slices, on_synced=after_sync)
    health_checks.proxy_healthy = syncer.healthy
    health = HealthServer(
        settings.healthz.bind_address, max(settings.healthz.port, 0),
        liveness={"sync": syncer.healthy}, readiness={"synced": syncer.ready},
    )  # fmt: skip
    running: list[asyncio.Task[Any]] = []
    try:
        if settings.healthz.port >= 0:
            await health.start()
        recorder.start()
        services.start()
        slices.start()
        sync_task = tasks.spawn(syncer.run(), "proxy syncer")
        running.append(sync_task)
        stopping = tasks.spawn(stop.wait(), "proxy stop signal")
        running.append(stopping)
        await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        if sync_task.done() and not sync_task.cancelled() and sync_task.exception():
            raise RuntimeError(f"syncer failed: {sync_task.exception()}")
    finally:
        await tasks.cancel_and_wait(running)
        await services.stop()
        await slices.stop()
        await health_checks.close()
        await recorder.stop()
        with contextlib.suppress(Exception):
            await client.aclose()
        await health.stop()
        logger.info("removing the rules, route and bridge of the proxy")
        await host.cleanup()


def main(argv: list[str] | None = None) -> None:
    """`minik8s-proxy`: flags, logging, then `run` until SIGTERM (the rules are removed)."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "proxy", settings.log_level, grace_seconds=30.0)


if __name__ == "__main__":
    main()
