"""The cloud provider interface, shaped like Kubernetes' `cloudprovider.Interface`.

A provider gives the controllers what they need of "the cloud": `load_balancer()` (Kubernetes'
LoadBalancer: Get/Ensure/Update/EnsureDeleted), `instances()` (InstancesV2: exists, shut down,
metadata with the provider ID and addresses) and `routes()` (Routes), each None when the
provider has no such thing, as Kubernetes' `(impl, ok)` pairs say. `new_provider` picks one by
name (`--cloud-provider`):

- `local` (`local.py`): the nodes of `minik8s up` are processes on this host; a load balancer
  is an address of the pool, routed to a bridge of ours; kube-proxy on this host captures it.
- `docker` (`docker.py`, the only module that imports the Docker SDK): the docker-compose
  nodes are containers; an instance is a node container, found through the Docker API; a load
  balancer is a pool address the host routes to healthy node containers.

Objects are API objects as dicts; a load balancer status is `status.loadBalancer`'s value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from minik8s.api.meta import Object
from minik8s.cloudcontroller.config import Settings

LoadBalancerStatus = dict[str, Any]
"""`{"ingress": [{"ip": "203.0.113.1", "ipMode": "VIP"}]}`."""


class CloudError(Exception):
    """The provider could not do what was asked; the message goes into an Event."""


class InstanceNotFound(CloudError):
    pass


@dataclass(frozen=True)
class InstanceMetadata:
    """Kubernetes' `cloudprovider.InstanceMetadata`."""

    provider_id: str
    """`<provider>://<instance id>`, written to `spec.providerID`."""
    instance_type: str = ""
    """Label `node.kubernetes.io/instance-type`."""
    node_addresses: list[dict[str, str]] = field(default_factory=list)
    """`[{"type": "InternalIP", "address": …}, {"type": "Hostname", …}]`."""
    zone: str = ""
    region: str = ""


class LoadBalancer(Protocol):
    uses_nodes: bool
    """Whether the load balancer sends to nodes (then node changes call `update`)."""

    async def adopt(self, services: list[Object]) -> list[str]:
        """Learn what earlier runs handed out from the Services it serves (before any other
        call); returns `namespace/name` of those whose address must change."""
        ...

    async def get_load_balancer(
        self, cluster: str, service: Object
    ) -> tuple[LoadBalancerStatus | None, bool]:
        """(status, exists)."""
        ...

    async def ensure_load_balancer(
        self, cluster: str, service: Object, nodes: list[Object]
    ) -> LoadBalancerStatus: ...

    async def update_load_balancer(
        self, cluster: str, service: Object, nodes: list[Object]
    ) -> None: ...

    async def ensure_load_balancer_deleted(self, cluster: str, service: Object) -> None: ...

    def pool_usage(self) -> tuple[int, int]:
        """(addresses in use, pool size), for /metrics."""
        ...


class Instances(Protocol):
    """Kubernetes' InstancesV2."""

    async def instance_exists(self, node: Object) -> bool: ...

    async def instance_shutdown(self, node: Object) -> bool: ...

    async def instance_metadata(self, node: Object) -> InstanceMetadata: ...


class Routes(Protocol):
    async def list_routes(self, cluster: str) -> list[dict[str, Any]]: ...

    async def create_route(self, cluster: str, name_hint: str, route: dict[str, Any]) -> None: ...

    async def delete_route(self, cluster: str, route: dict[str, Any]) -> None: ...


class CloudProvider(Protocol):
    name: str

    async def initialize(self) -> None:
        """Set up what must exist before anything is handed out (the pool's route)."""
        ...

    def load_balancer(self) -> LoadBalancer | None: ...

    def instances(self) -> Instances | None: ...

    def routes(self) -> Routes | None: ...

    async def close(self) -> None: ...


def new_provider(settings: Settings) -> CloudProvider:
    """The provider `--cloud-provider` names (the Docker SDK is imported only for `docker`)."""
    if settings.cloud_provider == "local":
        from minik8s.cloudcontroller import local

        return local.LocalProvider(settings)
    if settings.cloud_provider == "docker":
        from minik8s.cloudcontroller.docker import DockerProvider

        return DockerProvider(settings)
    raise CloudError(f"unknown cloud provider {settings.cloud_provider!r}")
