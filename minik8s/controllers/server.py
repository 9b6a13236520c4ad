"""The controller-manager process (Kubernetes' `cmd/kube-controller-manager/app`): one process
running every enabled controller while it leads; `main` is `minik8s-controller-manager`.

Without leader election it runs the controllers at once. With it, it campaigns for the Lease
`kube-system/minik8s-controller-manager`; informers and controllers start only once it leads,
and losing the Lease ends the process (as kube-controller-manager does) so a restart starts
from a clean slate.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from minik8s.client import tasks
from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory, strip_managed_fields
from minik8s.client.leaderelection import default_identity
from minik8s.componentbase import leading, options, runner
from minik8s.componentbase.events import EventRecorder, SpamFilter
from minik8s.componentbase.health import HealthServer
from minik8s.controllers import config
from minik8s.controllers.base import Context, Controller

logger = logging.getLogger(__name__)

COMPONENT = "controller-manager"
SYNC_TIMEOUT = 60.0
"""Seconds to wait for the informers' first lists before giving up (and retrying)."""


def controller_factories() -> dict[str, Callable[[Context], Controller]]:
    from minik8s.controllers import (
        clusterroleaggregation,
        daemonset,
        deployment,
        endpoints,
        garbagecollector,
        horizontal,
        namespace,
        nodeipam,
        nodelifecycle,
        replicaset,
        rootcacertpublisher,
        serviceaccount,
        statefulset,
    )
    from minik8s.controllers.bootstrap import cleaner as tokencleaner
    from minik8s.controllers.bootstrap import signer as bootstrapsigner
    from minik8s.controllers.certificates import approver, cleaner, signer
    from minik8s.controllers.volume import binder, localpath, protection

    return {
        **workload_controllers(),
        "replicaset": replicaset.ReplicaSetController,
        "deployment": deployment.DeploymentController,
        "endpoints": endpoints.EndpointsController,
        "garbagecollector": garbagecollector.GarbageCollector,
        "namespace": namespace.NamespaceController,
        "nodelifecycle": nodelifecycle.NodeLifecycleController,
        "nodeipam": nodeipam.NodeIpamController,
        "clusterrole-aggregation": clusterroleaggregation.ClusterRoleAggregationController,
        "daemonset": daemonset.DaemonSetController,
        "statefulset": statefulset.StatefulSetController,
        "persistentvolume-binder": binder.PersistentVolumeBinder,
        "pvc-protection": protection.PVCProtectionController,
        "pv-protection": protection.PVProtectionController,
        "local-path-provisioner": localpath.LocalPathProvisioner,
        "serviceaccount": serviceaccount.ServiceAccountsController,
        "root-ca-cert-publisher": rootcacertpublisher.RootCACertPublisher,
        "horizontalpodautoscaling": horizontal.HorizontalController,
        "csrapproving": approver.CSRApprovingController,
        "csrsigning": signer.CSRSigningController,
        "csrcleaner": cleaner.CSRCleanerController,
        "bootstrapsigner": bootstrapsigner.BootstrapSigner,
        "tokencleaner": tokencleaner.TokenCleaner,
    }


def workload_controllers() -> dict[str, Callable[[Context], Controller]]:
    """The batch and disruption controllers (Jobs, CronJobs, TTL, pod GC, RCs, budgets)."""
    from minik8s.controllers import (
        cronjob,
        disruption,
        job,
        podgc,
        replicationcontroller,
        ttlafterfinished,
    )

    return {
        "replicationcontroller": replicationcontroller.ReplicationControllerController,
        "job": job.JobController,
        "cronjob": cronjob.CronJobController,
        "ttl-after-finished": ttlafterfinished.TTLAfterFinishedController,
        "podgc": podgc.PodGCController,
        "disruption": disruption.DisruptionController,
    }


class ControllerManager:
    def __init__(self, settings: config.Settings, client: ApiClient) -> None:
        self.settings = settings
        self.client = client
        self.identity = default_identity()
        self.running = False
        """True while the controllers run (this process leads)."""
        self.controllers: list[Controller] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set (or the Lease is lost, which raises `LeadershipLost`)."""
        s = self.settings
        health = HealthServer(
            s.healthz.bind_address, max(s.healthz.port, 0),
            liveness={"ping": lambda: True}, readiness={"controllers": lambda: self.running},
        )  # fmt: skip
        if s.healthz.port >= 0:
            await health.start()
        try:
            await leading.run_while_leading(
                stop, s.leader_election, self.client, self.run_controllers,
                "controller-manager work", self.identity,
            )  # fmt: skip
        finally:
            await health.stop()

    async def run_controllers(self) -> None:
        """Start informers and every enabled controller; run until cancelled."""
        s = self.settings
        # managedFields trimmed for memory, as kube-controller-manager's shared informers do
        informers = InformerFactory(
            self.client, resync_period=s.resync_period or None, transform=strip_managed_fields
        )
        recorder = EventRecorder(self.client, COMPONENT, spam_filter=SpamFilter())
        ctx = Context(self.client, informers, recorder, s)
        factories = controller_factories()
        self.controllers = [factories[name](ctx) for name in s.controllers]
        recorder.start()
        informers.start()
        running: list[asyncio.Task[None]] = []
        try:
            while not await informers.wait_synced(SYNC_TIMEOUT):
                logger.warning("informers not synced after %.0fs; still waiting", SYNC_TIMEOUT)
            logger.info("caches synced; running controllers: %s", ", ".join(s.controllers))
            self.running = True
            running = [tasks.spawn(c.run(), f"controller {c.name}") for c in self.controllers]
            await asyncio.gather(*running)
        finally:
            self.running = False
            for controller in self.controllers:
                controller.stop()
            await tasks.cancel_and_wait(running, timeout=5.0)
            await informers.stop()
            await recorder.stop(flush_seconds=1.0)


async def run(settings: config.Settings, stop: asyncio.Event) -> None:
    """Run the enabled controllers (while leading) until `stop` is set."""
    async with ApiClient(options.load_client_config(settings.client)) as client:
        await ControllerManager(settings, client).run(stop)


def main(argv: list[str] | None = None) -> None:
    """`minik8s-controller-manager`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "controller-manager", settings.log_level)


if __name__ == "__main__":
    main()
