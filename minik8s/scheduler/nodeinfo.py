"""Plain data the scheduling decisions read: `PodInfo` and `NodeInfo`, parsed once per object.

A pod or node dict is parsed when the informer delivers it, never in the filter/score loop.
`NodeInfo` also keeps incremental accounting of the pods assigned to it (requests, host ports,
pods per owner), so a filter or score is a few attribute reads.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import meta, quantity

logger = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_MILLI_CPU_REQUEST = 100
"""What a container without a cpu request counts as when scoring (Kubernetes' non-zero default)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""What a container without a memory request counts as when scoring."""

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes' ToleratesTaint: empty effect matches all, empty key with Exists all keys."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if self.operator in ("Equal", ""):
            return bool(self.key) and self.value == taint.value
        return False


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` (or `matchFields`) entry of a NodeSelectorTerm."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """Requirements ANDed; a term without any matches no node (as in Kubernetes)."""

    expressions: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    weight: int
    term: SelectorTerm


@dataclass(frozen=True, slots=True)
class VolumeConstraint:
    """Where a pod's volume can be reached: a node must match one of `terms` (none: no node),
    else it is rejected with `reason`."""

    reason: str
    terms: tuple[SelectorTerm, ...] = ()


HostPort = tuple[str, str, int]
"""(hostIP, protocol, hostPort); hostIP "0.0.0.0" means every address."""


@dataclass(slots=True)
class PodInfo:
    """What scheduling needs of a pod, parsed once."""

    key: str
    namespace: str
    name: str
    uid: str
    obj: dict[str, Any]
    """The pod as the informer delivered it (read-only)."""
    priority: int = 0
    scheduler_name: str = DEFAULT_SCHEDULER
    node_name: str = ""
    terminating: bool = False
    terminal: bool = False
    """Phase Succeeded or Failed: it no longer uses its node's resources."""
    cpu: int = 0
    """Requested millicores."""
    memory: int = 0
    """Requested bytes."""
    nonzero_cpu: int = 0
    """Requested millicores, containers without a request counting as 100m (for scores)."""
    nonzero_memory: int = 0
    host_ports: tuple[HostPort, ...] = ()
    node_selector: tuple[tuple[str, str], ...] = ()
    required_terms: tuple[SelectorTerm, ...] | None = None
    """Required node affinity (terms ORed); None when the pod has none."""
    preferred_terms: tuple[PreferredTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    owner_uid: str = ""
    """The controller owner's uid (e.g. its ReplicaSet), for spreading."""
    claims: tuple[str, ...] = ()
    """Names of the PersistentVolumeClaims its volumes use."""
    volume_constraints: tuple[VolumeConstraint, ...] = ()
    """Node constraints of its claims' volumes, set for one decision (`volumebinding`)."""

    @property
    def has_node_affinity(self) -> bool:
        return bool(self.node_selector) or self.required_terms is not None


@dataclass(slots=True)
class NodeInfo:
    """A node's parsed spec/status plus the running totals of the pods assigned to it."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    ready: bool = True
    taints: tuple[Taint, ...] = ()
    hard_taints: tuple[Taint, ...] = ()
    """NoSchedule and NoExecute taints: filtered on."""
    soft_taints: tuple[Taint, ...] = ()
    """PreferNoSchedule taints: scored on."""
    allocatable_cpu: int = 0
    allocatable_memory: int = 0
    allocatable_pods: int = 0
    requested_cpu: int = 0
    requested_memory: int = 0
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)
    used_ports: Counter[HostPort] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)
    exists: bool = True
    """False for a placeholder holding pods whose node the informer has not delivered (yet)."""
    clean: bool = True
    """Schedulable, ready, no NoSchedule/NoExecute taint: the node-side filters pass."""
    pod_count: int = 0
    score_cache: dict[tuple[int, ...], int] = field(default_factory=dict)
    """Resource scores by pod request: valid until the node's pods or allocatable change."""

    def __post_init__(self) -> None:
        self.clean = not self.unschedulable and self.ready and not self.hard_taints

    def add_pod(self, pod: PodInfo) -> None:
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        self.pod_count += 1
        self.score_cache.clear()
        self.requested_cpu += pod.cpu
        self.requested_memory += pod.memory
        self.nonzero_cpu += pod.nonzero_cpu
        self.nonzero_memory += pod.nonzero_memory
        for port in pod.host_ports:
            self.used_ports[port] += 1
        if pod.owner_uid:
            self.owners[pod.owner_uid] += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        self.pod_count -= 1
        self.score_cache.clear()
        self.requested_cpu -= pod.cpu
        self.requested_memory -= pod.memory
        self.nonzero_cpu -= pod.nonzero_cpu
        self.nonzero_memory -= pod.nonzero_memory
        for port in pod.host_ports:
            self.used_ports[port] -= 1
            if self.used_ports[port] <= 0:
                del self.used_ports[port]
        if pod.owner_uid:
            self.owners[pod.owner_uid] -= 1
            if self.owners[pod.owner_uid] <= 0:
                del self.owners[pod.owner_uid]
        return pod

    def update_from(self, other: NodeInfo) -> None:
        """Take the node's spec/status from a freshly parsed `other`, keeping the pod totals."""
        self.labels = other.labels
        self.unschedulable = other.unschedulable
        self.ready = other.ready
        self.taints = other.taints
        self.hard_taints = other.hard_taints
        self.soft_taints = other.soft_taints
        self.allocatable_cpu = other.allocatable_cpu
        self.allocatable_memory = other.allocatable_memory
        self.allocatable_pods = other.allocatable_pods
        self.clean = other.clean
        self.score_cache.clear()
        self.exists = True


# --- parsing ----------------------------------------------------------------------------------


def _cpu(value: Any) -> int:
    try:
        return quantity.cpu_millis(value)
    except (ValueError, TypeError):
        return 0


def _memory(value: Any) -> int:
    try:
        return quantity.memory_bytes(value)
    except (ValueError, TypeError):
        return 0


def _container_requests(container: dict[str, Any]) -> tuple[int, int, int, int]:
    """(cpu, memory, nonzero cpu, nonzero memory) requested by one container."""
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = _cpu(requests["cpu"]) if "cpu" in requests else 0
    memory = _memory(requests["memory"]) if "memory" in requests else 0
    nonzero_cpu = cpu if "cpu" in requests else DEFAULT_MILLI_CPU_REQUEST
    nonzero_memory = memory if "memory" in requests else DEFAULT_MEMORY_REQUEST
    return cpu, memory, nonzero_cpu, nonzero_memory


def pod_requests(spec: dict[str, Any]) -> tuple[int, int, int, int]:
    """Kubernetes' effective pod request (`resourcehelper.PodRequests`): the sum over the app
    containers and the sidecars (init containers with `restartPolicy: Always`), at least
    each other init container's plus the sidecars started before it, plus the pod overhead.
    (cpu, memory, nonzero cpu, nonzero memory)."""
    total = [0, 0, 0, 0]
    for container in spec.get("containers") or []:
        for i, value in enumerate(_container_requests(container)):
            total[i] += value
    sidecars = [0, 0, 0, 0]
    init_peak = [0, 0, 0, 0]
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container)
        sidecar = container.get("restartPolicy") == "Always"
        for i, value in enumerate(requests):
            if sidecar:
                total[i] += value
                sidecars[i] += value
                init_peak[i] = max(init_peak[i], sidecars[i])
            else:
                init_peak[i] = max(init_peak[i], value + sidecars[i])
    total = [max(t, peak) for t, peak in zip(total, init_peak, strict=True)]
    overhead = spec.get("overhead") or {}
    if "cpu" in overhead:
        total[0] += _cpu(overhead["cpu"])
        total[2] += _cpu(overhead["cpu"])
    if "memory" in overhead:
        total[1] += _memory(overhead["memory"])
        total[3] += _memory(overhead["memory"])
    return total[0], total[1], total[2], total[3]


def _host_ports(spec: dict[str, Any]) -> tuple[HostPort, ...]:
    ports: list[HostPort] = []
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            host_port = port.get("hostPort") or 0
            if host_port > 0:
                ports.append(
                    (port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", host_port)
                )
    return tuple(ports)


def _requirements(items: Any) -> tuple[Requirement, ...]:
    return tuple(
        Requirement(
            str(r.get("key", "")),
            str(r.get("operator", "")),
            tuple(str(v) for v in r.get("values") or ()),
        )
        for r in items or ()
    )


def parse_term(term: dict[str, Any]) -> SelectorTerm:
    return SelectorTerm(
        _requirements(term.get("matchExpressions")), _requirements(term.get("matchFields"))
    )


def _owner_uid(pod: dict[str, Any]) -> str:
    ref = meta.controller_ref(pod)
    return str(ref.get("uid") or "") if ref else ""


def pod_info(pod: dict[str, Any]) -> PodInfo:
    """Parse what scheduling reads of a pod; tolerant of missing fields."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace = metadata.get("namespace") or "default"
    name = metadata.get("name") or ""
    cpu, memory, nonzero_cpu, nonzero_memory = pod_requests(spec)
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return PodInfo(
        key=f"{namespace}/{name}",
        namespace=namespace,
        name=name,
        uid=metadata.get("uid") or "",
        obj=pod,
        priority=int(spec.get("priority") or 0),
        scheduler_name=spec.get("schedulerName") or DEFAULT_SCHEDULER,
        node_name=spec.get("nodeName") or "",
        terminating=bool(metadata.get("deletionTimestamp")),
        terminal=(pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
        cpu=cpu,
        memory=memory,
        nonzero_cpu=nonzero_cpu,
        nonzero_memory=nonzero_memory,
        host_ports=_host_ports(spec),
        node_selector=tuple(sorted((spec.get("nodeSelector") or {}).items())),
        required_terms=(
            tuple(parse_term(t) for t in required.get("nodeSelectorTerms") or ())
            if required is not None
            else None
        ),
        preferred_terms=tuple(
            PreferredTerm(int(p.get("weight") or 0), parse_term(p.get("preference") or {}))
            for p in preferred
        ),
        tolerations=tuple(
            Toleration(
                t.get("key") or "",
                t.get("operator") or "Equal",
                t.get("value") or "",
                t.get("effect") or "",
            )
            for t in spec.get("tolerations") or ()
        ),
        owner_uid=_owner_uid(pod),
        claims=tuple(
            str(v["persistentVolumeClaim"]["claimName"])
            for v in spec.get("volumes") or ()
            if (v.get("persistentVolumeClaim") or {}).get("claimName")
        ),
    )


def node_ready(node: dict[str, Any]) -> bool:
    return meta.condition_is_true(node, "Ready")


def node_info(node: dict[str, Any]) -> NodeInfo:
    """Parse what scheduling reads of a node (no pods yet)."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    taints = tuple(
        Taint(t.get("key") or "", t.get("value") or "", t.get("effect") or "")
        for t in spec.get("taints") or ()
    )
    try:
        pods = int(quantity.parse_quantity(allocatable.get("pods", 0)))
    except (ValueError, TypeError):
        pods = 0
    return NodeInfo(
        name=metadata.get("name") or "",
        labels=dict(metadata.get("labels") or {}),
        unschedulable=bool(spec.get("unschedulable")),
        ready=node_ready(node),
        taints=taints,
        hard_taints=tuple(t for t in taints if t.effect in (NO_SCHEDULE, NO_EXECUTE)),
        soft_taints=tuple(t for t in taints if t.effect == PREFER_NO_SCHEDULE),
        allocatable_cpu=_cpu(allocatable.get("cpu", 0)),
        allocatable_memory=_memory(allocatable.get("memory", 0)),
        allocatable_pods=pods,
    )


def is_unscheduled(pod: dict[str, Any], scheduler_name: str = DEFAULT_SCHEDULER) -> bool:
    """A pod this scheduler should place: no node, our schedulerName, not terminating/over."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return False
    if (spec.get("schedulerName") or DEFAULT_SCHEDULER) != scheduler_name:
        return False
    if meta.is_deleting(pod):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
