"""The cloud controller manager's process (Kubernetes' `cmd/cloud-controller-manager/app`): one
leader-elected process running the cloud's controllers; `main` is
`minik8s-cloud-controller-manager`.

It campaigns for the Lease `kube-system/cloud-controller-manager`; only the leader
starts informers and controllers (the service controller first has the provider route the load
balancer pool: nothing is handed out before). Losing the Lease ends the process, as
kube-controller-manager does, so a restart begins from a clean slate. `/healthz`, `/readyz`
(200 while the controllers run and the load balancer pool is routed) and `/metrics` on
`--healthz-port` (10258, Kubernetes' cloud-controller-manager port).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable

from minik8s.client.api import ApiClient, ClientSettings
from minik8s.client.informer import InformerFactory
from minik8s.cloudcontroller import config
from minik8s.cloudcontroller.base import ControllerContext
from minik8s.cloudcontroller.node import CloudNodeController
from minik8s.cloudcontroller.nodelifecycle import CloudNodeLifecycleController
from minik8s.cloudcontroller.provider import CloudError, CloudProvider, new_provider
from minik8s.cloudcontroller.service import ServiceController
from minik8s.componentbase import options, runner
from minik8s.componentbase.controllerhost import Controller, ControllerHost
from minik8s.componentbase.events import EventRecorder

logger = logging.getLogger(__name__)

EVENT_SOURCES = {
    "service": "service-controller",
    "cloud-node": "cloud-node-controller",
    "cloud-node-lifecycle": "cloud-node-lifecycle-controller",
}
"""The Event source of each controller: Kubernetes' component names."""


class CloudControllerManager(ControllerHost):
    work_name = "cloud-controller-manager work"

    def __init__(
        self, settings: config.Settings, client: ApiClient, provider: CloudProvider
    ) -> None:
        super().__init__(client, settings.healthz, settings.leader_election)
        self.settings = settings
        self.provider = provider

    def readiness(self) -> dict[str, Callable[[], bool]]:
        return {**super().readiness(), "load-balancer-pool": self.pool_ready}

    async def run_controllers(self) -> None:
        """Prepare the provider, start informers and every enabled controller; run until
        cancelled."""
        s = self.settings
        informers = InformerFactory(self.client)
        host = socket.gethostname()
        # One writer each, as client-go's broadcaster writes a component's Events: more would
        # take the apiserver's (and etcd's) writes from the controllers' own in a burst.
        recorders = {name: EventRecorder(self.client, EVENT_SOURCES[name], host=host, writers=1)
                     for name in s.controllers}  # fmt: skip
        await self.run_them(
            informers, list(recorders.values()), self._controllers(informers, recorders),
            f"{', '.join(s.controllers)} (provider {self.provider.name})",
        )  # fmt: skip

    def pool_ready(self) -> bool:
        """The service controller (if it runs) has routed the pool and adopted what earlier
        runs handed out."""
        return all(c.pool_ready for c in self.controllers if isinstance(c, ServiceController))

    def _controllers(
        self, informers: InformerFactory, recorders: dict[str, EventRecorder]
    ) -> list[Controller]:
        s, result = self.settings, list[Controller]()
        balancer, instances = self.provider.load_balancer(), self.provider.instances()
        for name in s.controllers:
            context = ControllerContext(self.client, informers, recorders[name], s)
            if name == "service":
                if balancer is None:
                    raise CloudError(f"the {self.provider.name} provider has no load balancers")
                result.append(ServiceController(context, balancer, self.provider.initialize))
            elif instances is None:
                raise CloudError(f"the {self.provider.name} provider has no instances")
            elif name == "cloud-node":
                result.append(CloudNodeController(context, instances))
            else:
                result.append(CloudNodeLifecycleController(context, instances))
        return result


async def run(settings: config.Settings, stop: asyncio.Event) -> None:
    """Run the enabled controllers (while leading) until `stop` is set; or `--cleanup`."""
    provider = new_provider(settings)
    try:
        if settings.cleanup:
            cleanup = getattr(provider, "cleanup", None)
            if cleanup is not None:
                await cleanup()
            logger.info("cleanup done")
            return
        client_settings = ClientSettings(user_agent="minik8s-cloud-controller-manager/0.1")
        client_config = options.load_client_config(settings.client)
        async with ApiClient(client_config, client_settings) as client:
            await CloudControllerManager(settings, client, provider).run(stop)
    finally:
        await provider.close()


def main(argv: list[str] | None = None) -> None:
    """`minik8s-cloud-controller-manager`: flags, logging, then `run` until SIGTERM."""
    settings = config.parse_args(argv)
    runner.run(functools.partial(run, settings), "cloud-controller-manager", settings.log_level)


if __name__ == "__main__":
    main()
