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
from collections.abc import Callable

from minik8s.client.api import ApiClient
from minik8s.client.informer import InformerFactory, strip_managed_fields
from minik8s.client.leaderelection import default_identity
from minik8s.componentbase import options, runner
from minik8s.componentbase.controllerhost import ControllerHost
from minik8s.componentbase.events import EventRecorder, SpamFilter
from minik8s.controllers import config
from minik8s.controllers.base import Context, Controller

COMPONENT = "controller-manager"


def controller_factories() -> dict[str, Callable[[Context], Controller]]:
    from minik8s.controllers import (
        clusterroleaggregation,
        daemonset,
        deployment,
        endpoints,
        endpointslice,
        endpointslicemirroring,
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
        "endpointslice": endpointslice.EndpointSliceController,
        "endpointslicemirroring": endpointslicemirroring.EndpointSliceMirroringController,
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


class ControllerManager(ControllerHost):
    work_name = "controller-manager work"

    def __init__(self, settings: config.Settings, client: ApiClient) -> None:
        super().__init__(client, settings.healthz, settings.leader_election, default_identity())
        self.settings = settings

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
        controllers = [factories[name](ctx) for name in s.controllers]
        await self.run_them(informers, [recorder], controllers, ", ".join(s.controllers))


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
