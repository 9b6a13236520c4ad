"""`minik8s-kubemark`: many hollow nodes in one process (Kubernetes' `cmd/kubemark`).

Each hollow node runs the real kubelet (`kubelet.server.run`: node registration, Lease renewals
every `--node-status-update-frequency`, the pod informer, pod workers, PLEG and status manager)
on the fake runtime, with its own client and, when `--kubeconfig-dir` holds
`kubelet-<node>.conf`, its own identity (`system:node:<node>`); and, unless `--no-proxy`, a
hollow kube-proxy (`hollowproxy`): the real informers and sync loop, rules rendered but never
applied (with `--use-real-proxier=false`, as kubemark's fake proxier: the informers only).
Nodes start in waves of `--start-parallel`, so registering 500 of them does not stampede the
apiserver.

    python -m minik8s.kubemark.server --kubeconfig K --hollow-nodes 50 --node-prefix hollow-
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging

from prometheus_client import Histogram

from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.componentbase import options, runner
from minik8s.kubelet import server as kubelet
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubemark import hollowproxy
from minik8s.kubemark.config import KubemarkSettings, parse_args
from minik8s.proxy.config import ProxySettings

logger = logging.getLogger(__name__)

LOOP_LAG = Histogram(
    "kubemark_event_loop_lag_seconds",
    "A minik8s addition: how late the process's event loop (all its hollow nodes) woke a task "
    "sleeping LAG_PERIOD seconds.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)
LAG_PERIOD = 0.1


async def measure_loop_lag(stop: asyncio.Event) -> None:
    """What every hollow node's task waits behind when the shared loop is busy."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + LAG_PERIOD
        await asyncio.sleep(LAG_PERIOD)
        LOOP_LAG.observe(max(0.0, loop.time() - expected))


def node_names(settings: KubemarkSettings) -> list[str]:
    first = settings.first_index
    return [f"{settings.node_prefix}{i}" for i in range(first, first + settings.hollow_nodes)]


def kubelet_settings(settings: KubemarkSettings, node: str) -> KubeletSettings:
    kubeconfig = settings.client.kubeconfig
    if settings.kubeconfig_dir is not None:
        own = settings.kubeconfig_dir / f"kubelet-{node}.conf"
        if own.exists():
            kubeconfig = str(own)
    return KubeletSettings(
        node_name=node,
        client=dataclasses.replace(settings.client, kubeconfig=kubeconfig),
        runtime="fake",
        cpu=settings.cpu,
        memory=settings.memory,
        max_pods=settings.max_pods,
        node_status_update_frequency=settings.node_status_update_frequency,
        pod_workers=settings.pod_workers,
        pleg_relist_period=settings.pleg_relist_period,
        root_dir=settings.root_dir,
        lock_file=settings.root_dir / node / "kubelet.lock",
        log_level=settings.log_level,
    )


def proxy_settings(settings: KubemarkSettings, node: str) -> ProxySettings:
    return ProxySettings(
        node_name=node,
        client=dataclasses.replace(settings.client, kubeconfig=settings.proxy_kubeconfig),
        min_sync_period=settings.proxy_min_sync_period,
        log_level=settings.log_level,
    )


async def run(settings: KubemarkSettings, stop: asyncio.Event) -> None:
    names = node_names(settings)
    running: list[asyncio.Task[None]] = []
    proxy_client: ApiClient | None = None
    if settings.proxy:
        proxy_client = ApiClient(
            options.load_client_config(
                dataclasses.replace(settings.client, kubeconfig=settings.proxy_kubeconfig)
            )
        )
    running.append(tasks.spawn(measure_loop_lag(stop), "event loop lag"))
    try:
        for start in range(0, len(names), settings.start_parallel):
            wave = names[start : start + settings.start_parallel]
            for node in wave:
                running.append(
                    tasks.spawn(kubelet.run(kubelet_settings(settings, node), stop), node)
                )
                if proxy_client is not None:
                    running.append(
                        tasks.spawn(
                            hollowproxy.run(
                                proxy_settings(settings, node),
                                proxy_client,
                                stop,
                                real=settings.use_real_proxier,
                            ),
                            f"proxy {node}",
                        )
                    )
            await asyncio.sleep(settings.start_interval)
            if stop.is_set():
                break
        logger.info("%d hollow nodes started (%s…%s)", len(names), names[0], names[-1])
        await stop.wait()
    finally:
        stop.set()
        await asyncio.wait(running, timeout=settings.shutdown_grace) if running else None
        await tasks.cancel_and_wait(running, timeout=5)
        if proxy_client is not None:
            await proxy_client.aclose()


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    runner.run(
        functools.partial(run, settings),
        f"kubemark-{settings.node_prefix}{settings.first_index}",
        settings.log_level,
        settings.shutdown_grace + 5,
    )


if __name__ == "__main__":
    main()
