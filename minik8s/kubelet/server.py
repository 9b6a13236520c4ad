"""The kubelet process (Kubernetes' `cmd/kubelet/app/server.go`): wire the runtime, node agent,
informer, workers and HTTPS server. `main` is the `minik8s-kubelet` command."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from pathlib import Path
from typing import IO

from minik8s.api import errors
from minik8s.api.resources import NAMESPACES, NODES, PODS, SERVICES
from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.client.workqueue import run_workers
from minik8s.componentbase import options, runner
from minik8s.componentbase.events import EventRecorder
from minik8s.kubelet import config, envvars, nodelock
from minik8s.kubelet.certificates import bootstrap, plan
from minik8s.kubelet.certificates import manager as certmanager
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.httpserver import KubeletServer
from minik8s.kubelet.node import NodeAgent, registration_backoff
from minik8s.kubelet.pleg import Pleg
from minik8s.kubelet.podworkers import PodWorkers
from minik8s.kubelet.runtime import Runtime
from minik8s.kubelet.serverauth import AuthSettings, KubeletAuth
from minik8s.kubelet.statusmanager import StatusManager

logger = logging.getLogger(__name__)


def make_runtime(settings: KubeletSettings) -> Runtime:
    if settings.runtime == "fake":
        from minik8s.kubelet.runtime.fake import FakeRuntime

        return FakeRuntime()
    from minik8s.kubelet.runtime.docker import DockerRuntime

    return DockerRuntime(network=settings.network_name)


TRANSIENT = (errors.ServiceUnavailable, errors.TooManyRequests, errors.Timeout)
"""Answers (or no answer: `ServerUnreachable` is a 503) a kubelet starting up waits out."""


async def cluster_id(client: ApiClient) -> str:
    """The cluster's identity: the uid of its kube-system namespace (Kubernetes' convention),
    asked until the apiserver answers: a thousand kubelets starting together can find it
    unreachable for a while, and a kubelet that gave up would never register its node."""
    failures = 0
    while True:
        try:
            namespace = await client.get(NAMESPACES, "kube-system")
            return str(namespace["metadata"]["uid"])
        except TRANSIENT as e:
            failures += 1
            delay = registration_backoff(failures, random.random())
            logger.warning("cannot read the cluster's identity (retrying in %.1fs): %s",
                           delay, e.message)  # fmt: skip
            await asyncio.sleep(delay)


def _server_tls(settings: KubeletSettings) -> tuple[str, str, str | None] | None:
    if settings.rotate_server_certificates:
        current = str(
            certmanager.ensure_placeholder(
                settings.certificates_dir, settings.node_name, (settings.node_ip,)
            )
        )
        return current, current, settings.client_ca_file
    if not settings.tls_cert_file or not settings.tls_private_key_file:
        return None
    return settings.tls_cert_file, settings.tls_private_key_file, settings.client_ca_file


def _certificate_managers(
    settings: KubeletSettings, client: ApiClient, server: KubeletServer
) -> list[certmanager.CertificateManager]:
    """Renewal of the client certificate (when the kubeconfig uses `--cert-dir`'s) and of the
    serving one (`--rotate-server-certificates`)."""
    cert_dir = settings.certificates_dir
    managers = []
    client_file = str(plan.current_file(cert_dir, plan.CLIENT))
    if settings.rotate_certificates and client.config.client_certificate == client_file:

        async def reload_client(current: Path) -> None:
            await client.reload_tls()

        managers.append(
            certmanager.CertificateManager(
                client, plan.CLIENT, settings.node_name, cert_dir, reload_client
            )
        )
    if settings.rotate_server_certificates:

        async def reload_server(current: Path) -> None:
            server.reload_tls(str(current), str(current))

        managers.append(
            certmanager.CertificateManager(
                client,
                plan.SERVING,
                settings.node_name,
                cert_dir,
                reload_server,
                names=lambda: ((settings.node_name,), (settings.node_ip,)),
            )
        )
    return managers


def _server_auth(settings: KubeletSettings, client: ApiClient) -> KubeletAuth | None:
    """Who may call the kubelet's API; None: anyone (no TLS, no authn/authz flags)."""
    auth = AuthSettings(
        client_ca=bool(settings.client_ca_file),
        token_webhook=settings.authentication_token_webhook,
        anonymous=settings.anonymous_auth,
        authorization_mode=settings.authorization_mode,
    )
    if auth == AuthSettings():
        return None
    return KubeletAuth(client, settings.node_name, auth)


async def run(settings: KubeletSettings, stop: asyncio.Event) -> None:
    if settings.bootstrap_kubeconfig:
        assert settings.client.kubeconfig is not None
        await bootstrap.bootstrap_client(
            Path(settings.client.kubeconfig),
            Path(settings.bootstrap_kubeconfig),
            settings.certificates_dir,
            settings.node_name,
            settings.bootstrap_timeout,
        )
    runtime = make_runtime(settings)
    client = ApiClient(options.load_client_config(settings.client))
    recorder = EventRecorder(client, "kubelet", settings.node_name)
    services = Informer(
        client, SERVICES, transform=envvars.compact_service, name=f"services@{settings.node_name}"
    )
    workers = PodWorkers(
        settings, client, runtime, recorder, StatusManager(client), services.store.list
    )
    server = KubeletServer(
        runtime,
        settings.node_name,
        settings.node_ip,
        settings.port,
        lambda: list(workers.pods.values()),
        tls=_server_tls(settings),
        auth=_server_auth(settings, client),
    )
    informer = Informer(
        client,
        PODS,
        field_selector=f"spec.nodeName={settings.node_name}",
        name=f"pods@{settings.node_name}",
    )
    informer.add_event_handler(workers.on_add, workers.on_update, workers.on_delete)
    own_node = Informer(  # the node lister: its status checks compare with the apiserver's
        client,
        NODES,
        field_selector=f"metadata.name={settings.node_name}",
        name=f"node@{settings.node_name}",
    )
    node = NodeAgent(settings, client, runtime, own_node)
    pleg = Pleg(
        runtime,
        settings.node_name,
        workers.queue.add,
        lambda uid: uid in workers.pods,
        settings.pleg_relist_period,
    )
    running: list[asyncio.Task[None]] = []
    lock: IO[str] | None = None
    try:
        runtime.cluster_id = await cluster_id(client)
        lock = nodelock.acquire(
            settings.lock_file
            or nodelock.default_path(
                runtime.cluster_id, settings.node_name, settings.root_dir / settings.node_name
            ),
            settings.node_name,
        )
        port = await server.start()
        await node.register(port)
        running.append(tasks.spawn(node.run_lease(), "node lease"))
        subnet = settings.pod_subnet
        if settings.pod_subnet_from_node:
            subnet = await node.wait_pod_cidr()
        await runtime.ensure_network(settings.network_name, subnet)
        recorder.start()
        own_node.start()
        services.start()
        informer.start()
        await _wait_synced(informer, "pod")
        await _wait_synced(services, "service")  # containers need their Service variables
        await pleg.relist()  # adopt what runs already; wake orphans
        running += [
            tasks.spawn(
                run_workers(workers.queue, workers.sync, settings.pod_workers), "pod workers"
            ),
            tasks.spawn(pleg.run(), "pleg"),
            tasks.spawn(node.run_status(), "node status"),
            *(
                tasks.spawn(m.run(), f"{m.kind} certificate")
                for m in _certificate_managers(settings, client, server)
            ),
        ]
        logger.info(
            "kubelet %s ready (runtime %s, %d pods)",
            settings.node_name,
            runtime.name,
            len(workers.pods),
        )
        await stop.wait()
    finally:
        logger.info("kubelet %s stopping; containers keep running", settings.node_name)
        await workers.close()
        await tasks.cancel_and_wait(running, timeout=5)
        await informer.stop()
        await services.stop()
        await own_node.stop()
        await server.stop()
        await recorder.stop()
        await runtime.close()
        await client.aclose()
        if lock is not None:
            lock.close()


async def _wait_synced(informer: Informer, what: str, warn_every: float = 60.0) -> None:
    """Wait for `informer`'s first list however long it takes, as Kubernetes' kubelet waits
    for its sources: an apiserver busy with a thousand registering nodes answers late, and a
    kubelet that gave up would stop renewing its node's Lease (the node would go NotReady)."""
    waited = 0.0
    while not await informer.wait_synced(warn_every):
        waited += warn_every
        logger.warning("the %s informer has not synced after %.0fs; still waiting", what, waited)


def main(argv: list[str] | None = None) -> None:
    """`minik8s-kubelet`: flags, logging, then `run` until SIGTERM (containers keep running)."""
    settings = config.parse_args(argv)
    runner.run(
        functools.partial(run, settings), f"kubelet-{settings.node_name}", settings.log_level,
        settings.shutdown_grace,
    )  # fmt: skip


if __name__ == "__main__":
    main()
