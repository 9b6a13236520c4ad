"""The `docker` provider: the cloud of the docker-compose cluster, where every node is a
container. The only module of the cloud controller that imports the Docker SDK.

It runs in the host's network namespace (`network_mode: host`, NET_ADMIN) with the Docker
socket, as a cloud's control plane runs outside its tenants' machines:

- Instances are the compose project's node containers (label `minik8s.role=node`), found by
  provider ID (`docker://<container id>`) or by the name the node registers. A removed
  container is an instance that no longer exists (its Node is deleted); a stopped one is shut
  down. Addresses: the container's IP on the project's network, and its hostname.
- Load balancers are addresses of the pool (`--load-balancer-pool`, 198.51.100.0/24 in
  deploy/docker-compose.yml), routed on the host to the project network's bridge before any is
  handed out (traffic to a free address is dropped on that bridge, never sent out). A handed-out
  address gets a host route to its nodes, one multipath route over every Ready node (each flow
  to one of them), where kube-proxy captures it; with `externalTrafficPolicy: Local` only to
  nodes whose `healthCheckNodePort` says they have endpoints, checked every
  `--load-balancer-check-period`, like a cloud's health checks. The routes go with the bridge
  when the project is taken down.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import docker
import docker.errors

from minik8s.api import meta, serviceutil
from minik8s.api.meta import Object
from minik8s.client import tasks
from minik8s.cloudcontroller import docker_plan as plan
from minik8s.cloudcontroller import pool
from minik8s.cloudcontroller.config import Settings
from minik8s.cloudcontroller.pooled import PooledLoadBalancer
from minik8s.cloudcontroller.provider import CloudError, InstanceMetadata, InstanceNotFound
from minik8s.componentbase import hostroute

logger = logging.getLogger(__name__)

HEALTH_CHECK_TIMEOUT = 1.0
"""Seconds a node's health check node port has to answer."""


class DockerProvider:
    name = "docker"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = pool.parse(settings.load_balancer_pool)
        self.project = settings.docker_project
        self.network = settings.docker_network
        self.bridge = ""
        self._client: docker.DockerClient | None = None
        self._load_balancer = DockerLoadBalancer(self)
        self._instances = DockerInstances(self)

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A blocking SDK call, from a thread; Docker's errors become CloudError."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.DockerException as e:
            raise CloudError(f"Docker: {e}") from e

    async def connect(self) -> docker.DockerClient:
        """The Docker client, the compose project and its network (found once)."""
        if self._client is not None:
            return self._client
        try:
            client = await asyncio.to_thread(docker.from_env, timeout=30)
        except docker.errors.DockerException as e:
            raise CloudError(f"cannot reach Docker: {e}") from e
        if not self.project:
            own = plan.own_container_id(_read("/proc/self/mountinfo"), _read("/proc/self/cgroup"))
            if own is None:
                raise CloudError("not in a container: give --docker-project")
            info = await self.call(client.api.inspect_container, own)
            self.project = ((info.get("Config") or {}).get("Labels") or {}).get(
                plan.PROJECT_LABEL, ""
            )
            if not self.project:
                raise CloudError(f"container {own[:12]} is not part of a compose project")
        network = await self._network(client)
        self.network = network["Name"]
        self.bridge = plan.bridge_of(network)
        self._client = client
        logger.info("docker provider: project %s, network %s (bridge %s)", self.project,
                    self.network, self.bridge)  # fmt: skip
        return client

    async def _network(self, client: docker.DockerClient) -> dict[str, Any]:
        if self.network:
            return dict(await self.call(client.api.inspect_network, self.network))
        labels = [f"{plan.PROJECT_LABEL}={self.project}", f"{plan.NETWORK_LABEL}=default"]
        found = await self.call(client.api.networks, filters={"label": labels})
        if not found:
            found = await self.call(client.api.networks, names=[f"{self.project}_default"])
        if not found:
            raise CloudError(f"compose project {self.project} has no default network")
        return dict(await self.call(client.api.inspect_network, found[0]["Id"]))

    async def node_containers(self) -> list[dict[str, Any]]:
        """Inspect data of the project's node containers, running or not."""
        client = await self.connect()
        labels = [f"{plan.PROJECT_LABEL}={self.project}", f"{plan.ROLE_LABEL}=node"]
        listed = await self.call(client.api.containers, all=True, filters={"label": labels})
        result = []
        for summary in listed:
            try:
                result.append(await self.call(client.api.inspect_container, summary["Id"]))
            except docker.errors.NotFound:
                continue  # removed meanwhile
        return result

    async def initialize(self) -> None:
        """Route the pool to the project's bridge (on the host); start the health checks."""
        await self.connect()
        for network in self.pool.networks:
            try:
                await hostroute.ensure_route(network, self.bridge, create_bridge=False)
            except (hostroute.RouteError, OSError) as e:
                raise CloudError(f"the load balancer pool: {e}") from e
        logger.info("load balancer pool %s routed to %s", self.pool.text, self.bridge)
        self._load_balancer.start()

    def load_balancer(self) -> DockerLoadBalancer:
        return self._load_balancer

    def instances(self) -> DockerInstances:
        return self._instances

    def routes(self) -> None:
        return None

    async def close(self) -> None:
        await self._load_balancer.stop()
        if self._client is not None:
            self._client.close()
            self._client = None


class DockerInstances:
    def __init__(self, provider: DockerProvider) -> None:
        self.provider = provider

    async def _find(self, node: Object) -> dict[str, Any]:
        """The node's container's inspect data; empty when there is none."""
        return dict(plan.find_node_container(await self.provider.node_containers(), node) or {})

    async def instance_exists(self, node: Object) -> bool:
        return bool(await self._find(node))

    async def instance_shutdown(self, node: Object) -> bool:
        info = await self._find(node)
        return bool(info) and plan.shut_down(info)

    async def instance_metadata(self, node: Object) -> InstanceMetadata:
        info = await self._find(node)
        if not info:
            raise InstanceNotFound(f"no container of compose project {self.provider.project} "
                                   f"is node {meta.name_of(node)}")  # fmt: skip
        addresses = []
        ip = plan.container_ip(info, self.provider.network)
        if ip:
            addresses.append({"type": "InternalIP", "address": ip})
        addresses.append({"type": "Hostname", "address": meta.name_of(node)})
        return InstanceMetadata(
            provider_id=plan.PROVIDER_ID_PREFIX + str(info["Id"]),
            instance_type="container",
            node_addresses=addresses,
        )


class DockerLoadBalancer(PooledLoadBalancer):
    """Pool addresses routed by the host to the nodes behind them."""

    uses_nodes = True

    def __init__(self, provider: DockerProvider) -> None:
        super().__init__(provider.pool)
        self.provider = provider
        self._attached: dict[str, tuple[Object, list[Object], str, list[str]]] = {}
        """uid → (service, nodes, address, gateways routed now)."""
        self._checker: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._checker is None:
            self._checker = tasks.spawn(self._check_forever(), "docker load balancer checks")

    async def stop(self) -> None:
        if self._checker is not None:
            await tasks.cancel_and_wait([self._checker])
            self._checker = None

    async def _attach(self, service: Object, address: str, nodes: list[Object]) -> None:
        gateways = await self._backends(service, nodes)
        current = self._attached.get(meta.uid_of(service))
        if current is None or current[2] != address or current[3] != gateways:
            await self._route(address, gateways)
            logger.info("service %s: %s routed to %s", meta.ns_name(service), address,
                        ", ".join(gateways) or "nothing (no healthy node)")  # fmt: skip
        self._attached[meta.uid_of(service)] = (service, nodes, address, gateways)

    async def _detach(self, service: Object, address: str) -> None:
        self._attached.pop(meta.uid_of(service), None)
        await self._route(address, [])

    async def _route(self, address: str, gateways: list[str]) -> None:
        args = plan.route_args(address, self.provider.bridge, gateways)
        try:
            await hostroute.ip(*args, check=bool(gateways))
        except hostroute.RouteError as e:
            raise CloudError(str(e)) from e

    async def _backends(self, service: Object, nodes: list[Object]) -> list[str]:
        """The InternalIPs of the Ready nodes; with Local policy those with endpoints."""
        ips = [ip for node in nodes if meta.condition_is_true(node, "Ready")
               and (ip := plan.internal_ip(node))]  # fmt: skip
        spec = service.get("spec") or {}
        port = spec.get("healthCheckNodePort")
        if not serviceutil.needs_health_check(spec) or not port:
            return sorted(ips)
        healthy = await asyncio.gather(*(_answers_200(ip, int(port)) for ip in ips))
        return sorted(ip for ip, ok in zip(ips, healthy, strict=True) if ok)

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.provider.settings.load_balancer_check_period)
            async with self._lock:
                for service, nodes, address, _ in list(self._attached.values()):
                    try:
                        await self._attach(service, address, nodes)
                    except CloudError as e:
                        logger.warning("service %s: %s", meta.ns_name(service), e)


async def _answers_200(ip: str, port: int) -> bool:
    """GET / on the node's health check node port answers 200 within the timeout."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port), HEALTH_CHECK_TIMEOUT
        )
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), HEALTH_CHECK_TIMEOUT)
        return line.split()[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
