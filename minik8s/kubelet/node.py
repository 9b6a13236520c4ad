"""The Node object: registration, status (capacity, conditions, addresses, endpoints) and the
`kube-node-lease/<node>` Lease renewed every `node_status_update_frequency` seconds.

The Lease is renewed on a loop of its own, as the kubelet's node lease controller runs apart
from its node status sync, and a renewal that fails is retried at once (reading the Lease
again after a conflict) up to `MAX_UPDATE_RETRIES` times, as that controller does: one lost
answer no longer costs two periods (an update on the old resourceVersion, its conflict, then
a read), which at 500 hollow nodes made renewals 20-40 s apart.

The status is checked every period against the Node as the apiserver has it now (from an
informer of this Node alone, as Kubernetes' kubelet reads its node lister before each status
update), not only against what this kubelet wrote last: when the node lifecycle controller
marked the node's conditions Unknown because heartbeats came late (a renewal that met a 504
while etcd changed leaders), the next check writes Ready=True again, instead of after
`node_status_report_frequency` (5 min) during which no pod is scheduled on the node.

`node_conditions`, `build_status` and `conditions_differ` are pure; `NodeAgent` does the API
calls.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

from minik8s.api import errors, quantity, times
from minik8s.api.meta import Object
from minik8s.api.resources import LEASES, NODES
from minik8s.client.api import ApiClient
from minik8s.client.informer import Informer
from minik8s.kubelet.config import KubeletSettings
from minik8s.kubelet.runtime import Runtime

logger = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"
KUBELET_VERSION = "v1.32.0-minik8s"
MAX_UPDATE_RETRIES = 5
"""Attempts at one Lease renewal before waiting for the next period (Kubernetes' lease
controller: maxUpdateRetries)."""
REGISTER_BACKOFF = (0.1, 7.0)
"""The kubelet's registration backoff: first wait and cap, in seconds."""
JITTER = 0.04
"""Each period is up to 4 % longer, at random (`wait.JitterUntil`'s factor in the kubelet's
loops): nodes that registered together do not renew together forever."""


def registration_backoff(failures: int, rand: float) -> float:
    """Seconds before registration attempt `failures + 1`: 100 ms doubling up to 7 s, times
    1 + `rand` (a random number in [0, 1): full jitter above the floor, as client-go's
    `wait.Jitter(d, 1.0)`)."""
    first, cap = REGISTER_BACKOFF
    return min(first * 2.0 ** min(max(failures - 1, 0), 30), cap) * (1.0 + rand)


@dataclass(frozen=True)
class Pressure:
    memory: bool = False
    disk: bool = False
    pids: bool = False


@dataclass(frozen=True)
class Thresholds:
    memory_available_bytes: int = 100 * 1024 * 1024
    """MemoryPressure below this much available memory (Kubernetes' eviction default)."""
    disk_free_fraction: float = 0.10
    """DiskPressure below this fraction of free space on the kubelet's filesystem."""
    pid_fraction: float = 0.90
    """PIDPressure above this fraction of pid_max in use."""


def measure_pressure(root: Path, t: Thresholds) -> Pressure:
    """Read /proc and statvfs (cheap; called every status period)."""
    memory = disk = pids = False
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        memory = int(info["MemAvailable"].split()[0]) * 1024 < t.memory_available_bytes
    except (OSError, KeyError, ValueError):
        pass
    try:
        st = os.statvfs(root if root.exists() else "/")
        disk = st.f_bavail < t.disk_free_fraction * st.f_blocks
    except OSError:
        pass
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        count = sum(1 for p in os.listdir("/proc") if p.isdigit())
        pids = count > t.pid_fraction * pid_max
    except (OSError, ValueError):
        pass
    return Pressure(memory, disk, pids)


_CONDITIONS = (
    (
        "MemoryPressure",
        "memory",
        "KubeletHasSufficientMemory",
        "KubeletHasInsufficientMemory",
        "kubelet has sufficient memory available",
        "kubelet has insufficient memory available",
    ),
    (
        "DiskPressure",
        "disk",
        "KubeletHasNoDiskPressure",
        "KubeletHasDiskPressure",
        "kubelet has no disk pressure",
        "kubelet has disk pressure",
    ),
    (
        "PIDPressure",
        "pids",
        "KubeletHasSufficientPID",
        "KubeletHasInsufficientPID",
        "kubelet has sufficient PID available",
        "kubelet has insufficient PID available",
    ),
)


def node_conditions(pressure: Pressure, ready: bool, old: list[Object], now: str) -> list[Object]:
    """The four conditions; lastTransitionTime kept while a status stays the same (pure)."""
    previous = {c.get("type"): c for c in old}

    def cond(kind: str, ok: bool, reason: str, message: str) -> Object:
        status = "True" if ok else "False"
        before = previous.get(kind) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since or now,
        }

    result = []
    for kind, attr, ok_reason, bad_reason, ok_message, bad_message in _CONDITIONS:
        bad = bool(getattr(pressure, attr))
        result.append(
            cond(kind, bad, bad_reason if bad else ok_reason, bad_message if bad else ok_message)
        )
    result.append(
        cond(
            "Ready",
            ready,
            "KubeletReady" if ready else "KubeletNotReady",
            "kubelet is posting ready status" if ready else "container runtime is down",
        )
    )
    return result


def conditions_differ(reported: list[Object], current: list[Object]) -> bool:
    """Whether the Node's `current` conditions (the apiserver's) say something else than the
    kubelet's `reported` ones: each type's status, reason and message, heartbeat and transition
    times aside (Kubernetes' nodeStatusHasChanged)."""

    def said(conditions: list[Object]) -> dict[object, tuple[object, object, object]]:
        return {
            c.get("type"): (c.get("status"), c.get("reason"), c.get("message")) for c in conditions
        }

    return said(reported) != said(current)


def without_heartbeats(status: Object) -> Object:
    """The status with heartbeat times removed: what "changed" compares."""
    result = copy.deepcopy(status)
    for c in result.get("conditions") or []:
        c.pop("lastHeartbeatTime", None)
    return result


def machine_capacity(settings: KubeletSettings) -> dict[str, str]:
    cpu = settings.cpu or str(os.cpu_count() or 1)
    if settings.memory:
        memory = quantity.canonical(settings.memory)
    else:
        try:
            kib = next(
                int(line.split()[1])
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")
            )
            memory = f"{kib}Ki"
        except (OSError, StopIteration, ValueError):
            memory = "1Gi"
    try:
        st = os.statvfs("/")
        storage = f"{st.f_blocks * st.f_frsize // 1024}Ki"
    except OSError:
        storage = "10Gi"
    return {
        "cpu": quantity.canonical(cpu),
        "memory": memory,
        "pods": str(settings.max_pods),
        "ephemeral-storage": storage,
    }


def build_status(
    settings: KubeletSettings, port: int, runtime_version: str, conditions: list[Object]
) -> Object:
    capacity = machine_capacity(settings)
    uname = platform.uname()
    return {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": settings.node_ip},
            {"type": "Hostname", "address": settings.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": uname.release,
            "osImage": _os_image(),
            "containerRuntimeVersion": runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                uname.machine, uname.machine
            ),
        },
    }


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"


class NodeAgent:
    def __init__(
        self,
        settings: KubeletSettings,
        client: ApiClient,
        runtime: Runtime,
        own_node: Informer | None = None,
    ) -> None:
        """`own_node`: an informer of this node's Node alone (`metadata.name=<node>`, the
        kubelet's node lister), started by the caller; without it (or before it synced) each
        status check GETs the Node."""
        self.settings = settings
        self.client = client
        self.runtime = runtime
        self.own_node = own_node
        self.port = 0
        self.node: Object | None = None
        self.lease: Object | None = None
        self.runtime_version = "unknown"
        self._written: Object | None = None
        self._written_at = 0.0
        self.thresholds = Thresholds()

    def _node_object(self) -> Object:
        s = self.settings
        labels = {
            "kubernetes.io/hostname": s.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "minik8s.io/runtime": self.runtime.name,
        }
        spec: Object = {}
        taints = [t.to_dict() for t in s.register_with_taints]
        metadata: Object = {"name": s.node_name, "labels": labels}
        if s.cloud_provider == "external":
            taints.append({"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"})
            metadata["annotations"] = {PROVIDED_NODE_IP: s.node_ip}
        if taints:
            spec["taints"] = taints
        return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec}

    async def register(self, port: int) -> None:
        """Register, retrying until it succeeds (Kubernetes' `registerWithAPIServer`), with
        exponential backoff from 100 ms to 7 s, jittered so that a thousand kubelets turned
        away together (a 429 from an apiserver's priority levels) do not all return together."""
        failures = 0
        while True:
            try:
                await self._register(port)
                return
            except errors.ApiError as e:
                failures += 1
                delay = registration_backoff(failures, random.random())
                logger.warning(
                    "unable to register node %s with the API server (retrying in %.1fs): %s",
                    self.settings.node_name, delay, e.message,
                )  # fmt: skip
                await asyncio.sleep(delay)

    async def _register(self, port: int) -> None:
        """Create the Node (or adopt the existing one), then write its status."""
        self.port = port
        try:
            self.runtime_version = await self.runtime.version()
        except Exception as e:
            logger.warning("container runtime version unknown: %s", e)
        wanted = self._node_object()
        try:
            self.node = await self.client.create(NODES, wanted)
            logger.info("registered node %s", self.settings.node_name)
        except errors.AlreadyExists:
            patch = {"metadata": {key: wanted["metadata"][key] for key in ("labels", "annotations")
                                  if key in wanted["metadata"]}}  # fmt: skip
            self.node = await self.client.patch(NODES, self.settings.node_name, patch)
            logger.info("node %s already registered; updating it", self.settings.node_name)
        await self.update_status(force=True)
        await self.renew_lease()

    async def wait_pod_cidr(self, period: float = 1.0) -> str:
        """The node's `spec.podCIDR`, once the controller-manager has allocated it."""
        name = self.settings.node_name
        waited = 0.0
        while True:
            try:
                self.node = await self.client.get(NODES, name)
            except errors.ApiError as e:
                logger.warning("reading node %s failed: %s", name, e.message)
            cidr = ((self.node or {}).get("spec") or {}).get("podCIDR")
            if cidr:
                logger.info("node %s: pod CIDR %s", name, cidr)
                return str(cidr)
            if waited % 30 == 0:
                logger.info("node %s: waiting for a pod CIDR (--allocate-node-cidrs)", name)
            await asyncio.sleep(period)
            waited += period

    async def update_status(self, force: bool = False) -> bool:
        """Write the node status if it changed, if the Node's conditions on the apiserver say
        otherwise (another component wrote them), or if the last write is older than
        `node_status_report_frequency`; True if written."""
        assert self.node is not None
        current: list[Object] | None = None  # unknown: compare with what this kubelet wrote
        try:
            self.node = await self._current_node()
            current = (self.node.get("status") or {}).get("conditions") or []
        except errors.ApiError as e:
            logger.warning("reading node %s failed: %s", self.settings.node_name, e.message)
        ready = True
        try:
            self.runtime_version = await self.runtime.version()
        except Exception as e:
            ready = False
            logger.warning("container runtime is down: %s", e)
        pressure = (
            Pressure()
            if self.runtime.name == "fake"
            else await asyncio.to_thread(measure_pressure, self.settings.root_dir, self.thresholds)
        )
        old = (
            current
            if current is not None
            else (self._written or self.node.get("status") or {}).get("conditions") or []
        )
        status = build_status(
            self.settings,
            self.port,
            self.runtime_version,
            node_conditions(pressure, ready, old, times.now_rfc3339()),
        )
        external = self.settings.cloud_provider == "external"
        if external and self._written is not None:
            status["addresses"] = self._written.get("addresses") or status["addresses"]
        stale = time.monotonic() - self._written_at > self.settings.node_status_report_frequency
        if (
            not force
            and not stale
            and self._written is not None
            and without_heartbeats(status) == without_heartbeats(self._written)
            and not (current is not None and conditions_differ(status["conditions"], current))
        ):
            return False
        if external:
            await self._keep_cloud_addresses(status, fresh=current is not None)
        body = {**self.node, "status": status}
        body["metadata"] = {
            k: v for k, v in self.node["metadata"].items() if k != "resourceVersion"
        }
        self.node = await self.client.update_status(NODES, body)
        self._written, self._written_at = status, time.monotonic()
        return True

    async def _current_node(self) -> Object:
        """The Node as the apiserver has it: from the informer once it synced (as Kubernetes'
        kubelet reads its node lister first), else one GET."""
        if self.own_node is not None and self.own_node.has_synced:
            cached = self.own_node.store.get_by_key(self.settings.node_name)
            if cached is not None:
                return dict(cached)
        return await self.client.get(NODES, self.settings.node_name)

    async def _keep_cloud_addresses(self, status: Object, fresh: bool) -> None:
        """With an external cloud provider the cloud's addresses, once set, are the Node's
        (the kubelet's own are only the first ones, as Kubernetes' kubelet does); `fresh`: the
        Node was just read."""
        try:
            if not fresh:
                self.node = await self.client.get(NODES, self.settings.node_name)
        except errors.ApiError as e:
            logger.warning("reading node %s failed: %s", self.settings.node_name, e.message)
        addresses = ((self.node or {}).get("status") or {}).get("addresses")
        if addresses:
            status["addresses"] = addresses

    async def renew_lease(self) -> None:
        """One renewal: up to MAX_UPDATE_RETRIES attempts, at once, each reading the Lease
        again after a conflict (the previous attempt may have been applied, its answer lost)."""
        for attempt in range(1, MAX_UPDATE_RETRIES + 1):
            try:
                await self._renew_once()
                return
            except Exception as e:
                if attempt == MAX_UPDATE_RETRIES:
                    raise
                logger.info("renewing the node lease failed (attempt %d): %s", attempt, e)

    async def _renew_once(self) -> None:
        s = self.settings
        if self.lease is None:
            try:
                self.lease = await self.client.get(LEASES, s.node_name, LEASE_NAMESPACE)
            except errors.NotFound:
                self.lease = None
        spec = {
            "holderIdentity": s.node_name,
            "leaseDurationSeconds": s.node_lease_duration_seconds,
            "renewTime": times.now_micro(),
        }
        if self.lease is None:
            assert self.node is not None
            owner = {
                "apiVersion": "v1",
                "kind": "Node",
                "name": s.node_name,
                "uid": self.node["metadata"].get("uid"),
            }
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": s.node_name,
                    "namespace": LEASE_NAMESPACE,
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }
            try:
                self.lease = await self.client.create(LEASES, lease, LEASE_NAMESPACE)
                return
            except errors.AlreadyExists:
                self.lease = await self.client.get(LEASES, s.node_name, LEASE_NAMESPACE)
        assert self.lease is not None
        try:
            self.lease = await self.client.update(LEASES, {**self.lease, "spec": spec})
        except (errors.Conflict, errors.NotFound):
            self.lease = None  # someone else changed it: read it again next time
            raise

    async def run(self) -> None:
        """Both loops: the Lease and the node status, each on its own."""
        await asyncio.gather(self.run_lease(), self.run_status())

    async def run_lease(self) -> None:
        """Renew the Lease every update period, forever: started at registration, as the
        kubelet's node lease controller starts with it (not once the informers have synced,
        which in a registration storm can take longer than a period)."""
        await self._lease_loop()

    async def run_status(self) -> None:
        """Check the node status every update period, forever, on a loop of its own: a slow
        status write never delays a renewal."""
        await self._status_loop()

    def _period(self) -> float:
        return self.settings.node_status_update_frequency * (1 + JITTER * random.random())

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self._period())
            try:
                await self.renew_lease()
            except errors.ApiError as e:
                logger.warning("renewing the node lease failed: %s", e.message)
            except Exception as e:
                logger.warning("renewing the node lease failed: %r", e)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self._period())
            try:
                await self.update_status()
            except errors.ApiError as e:
                logger.warning("updating the node status failed: %s", e.message)
            except Exception as e:
                logger.warning("updating the node status failed: %r", e)
