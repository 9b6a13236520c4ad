"""Server-side printing: objects as a `meta.k8s.io/v1` Table, the way `kubectl get` asks for
them (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

Columns and cell rules follow the Kubernetes printers for each kind. Like the real
apiserver, every row carries all columns, `-o wide` ones (priority 1) included; kubectl
hides those unless asked. Cells are computed against an injectable `now`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from minik8s.api import resources

Obj = dict[str, Any]
Cells = list[Any]

INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class Column:
    name: str
    description: str
    type: str = "string"
    format: str = ""
    priority: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME = Column("Name", "Name of the object, unique within its namespace.", format="name")
AGE = Column("Age", "Time since the object was created.")


def wants_table(accept: str | None) -> bool:
    """True when an Accept header asks for a meta.k8s.io Table (v1 or v1beta1)."""
    if not accept:
        return False
    for media_range in accept.split(","):
        params = dict(
            part.strip().split("=", 1) for part in media_range.split(";")[1:] if "=" in part
        )
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
    return False


# --- time --------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (Time or MicroTime) as an aware datetime; None when absent."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(elapsed: timedelta) -> str:
    """A short human age with two or three significant figures: `5s`, `3m2s`, `2d3h`, `1y5d`."""
    micros = elapsed // timedelta(microseconds=1)
    seconds = int(micros / 1_000_000)  # truncates toward zero, as the Go original
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def _since(value: str | None, now: datetime) -> str:
    moment = parse_time(value)
    return "<unknown>" if moment is None else human_duration(now - moment)


def _age(obj: Obj, now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


# --- small formatting helpers --------------------------------------------------------


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def format_labels(labels: dict[str, str] | None) -> str:
    """A label map as `a=1,b=2` (sorted by key), or `<none>`."""
    if not labels:
        return "<none>"
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def label_selector_string(selector: Obj | None) -> str | None:
    """A LabelSelector in selector syntax (`app=web,tier in (a,b),!legacy`); "" selects
    everything; None when an operator is not understood."""
    if not selector:
        return ""
    requirements: list[tuple[str, str]] = [
        (key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator")
        values = ",".join(sorted(expression.get("values") or []))
        match operator:
            case "In":
                requirements.append((key, f"{key} in ({values})"))
            case "NotIn":
                requirements.append((key, f"{key} notin ({values})"))
            case "Exists":
                requirements.append((key, key))
            case "DoesNotExist":
                requirements.append((key, f"!{key}"))
            case _:
                return None
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Obj | None) -> str:
    text = label_selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _container_cells(template_spec: Obj) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _join_host_port(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = ":" in host
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


def _with_more(items: list[str], total: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    return f"{text} + {total - limit} more..." if total > limit else text


# --- per-kind printers ----------------------------------------------------------------

POD_COLUMNS = (
    NAME,
    Column("Ready", "Ready containers out of all containers of the pod."),
    Column("Status", "The aggregate status of the pod's containers."),
    Column("Restarts", "Container restarts in this pod, and how long ago the last one was."),
    AGE,
    Column("IP", "The pod's IP address.", priority=1),
    Column("Node", "The node the pod is bound to.", priority=1),
    Column("Nominated Node", "The node the scheduler nominated for preemption.", priority=1),
    Column("Readiness Gates", "Readiness gates that report True.", priority=1),
)


def _is_sidecar(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list[Obj], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _finished_at(container_status: Obj) -> datetime | None:
    terminated = (container_status.get("lastState") or {}).get("terminated") or {}
    return parse_time(terminated.get("finishedAt"))


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _terminated_reason(terminated: Obj) -> str:
    if terminated.get("reason"):
        return str(terminated["reason"])
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"


def _pod_cells(pod: Obj, now: datetime) -> Cells:
    spec, status = _spec(pod), _status(pod)
    conditions = status.get("conditions") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(map(_is_sidecar, init_specs.values()))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    sidecar_last_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount", 0)
        last_restart = _latest(last_restart, _finished_at(cs))
        sidecar = _is_sidecar(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last_restart = _latest(sidecar_last_restart, _finished_at(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting") or {}
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = "Init:" + _terminated_reason(terminated)
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last_restart = _latest(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        by_type = {c.get("type"): c.get("status") for c in conditions}
        passing = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_text = f"{passing}/{len(gates)}"
    return [
        _meta(pod).get("name", ""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def _pod_conditions(pod: Obj) -> list[Obj] | None:
    phase = _status(pod).get("phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


NODE_COLUMNS = (
    NAME,
    Column("Status", "The node's readiness, and whether scheduling is disabled."),
    Column("Roles", "The node's roles, from node-role.kubernetes.io/<role> labels."),
    AGE,
    Column("Version", "The kubelet version the node reports."),
    Column("Internal-IP", "The node's first InternalIP address.", priority=1),
    Column("External-IP", "The node's first ExternalIP address.", priority=1),
    Column("OS-Image", "The OS image the node reports.", priority=1),
    Column("Kernel-Version", "The kernel version the node reports.", priority=1),
    Column("Container-Runtime", "The container runtime the node reports.", priority=1),
)


def _node_cells(node: Obj, now: datetime) -> Cells:
    status, info = _status(node), _status(node).get("nodeInfo") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Unknown"] if not ready else [
        "Ready" if ready[-1].get("status") == "True" else "NotReady"
    ]  # fmt: skip
    if _spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)

    def address(kind: str) -> str:
        found = [a for a in status.get("addresses") or [] if a.get("type") == kind]
        return found[0].get("address", "") if found else "<none>"

    return [
        _meta(node).get("name", ""),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


SERVICE_COLUMNS = (
    NAME,
    Column("Type", "How the service is exposed."),
    Column("Cluster-IP", "The service's cluster IP."),
    Column("External-IP", "External addresses of the service."),
    Column("Port(s)", "The service's ports, with node ports."),
    AGE,
    Column("Selector", "The pod selector of the service.", priority=1),
)


def _service_external_ip(service: Obj) -> str:
    spec = _spec(service)
    external = list(spec.get("externalIPs") or [])
    match spec.get("type") or "ClusterIP":
        case "ClusterIP" | "NodePort":
            return ",".join(external) or "<none>"
        case "LoadBalancer":
            ingress = (_status(service).get("loadBalancer") or {}).get("ingress") or []
            balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
            return ",".join(balancers + external) or "<pending>"
        case "ExternalName":
            return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_cells(service: Obj, now: datetime) -> Cells:
    spec = _spec(service)
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "TCP")
        node_port = port.get("nodePort")
        ports.append(
            f"{port.get('port')}:{node_port}/{protocol}"
            if node_port
            else f"{port.get('port')}/{protocol}"
        )
    return [
        _meta(service).get("name", ""),
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        ",".join(ports) or "<none>",
        _age(service, now),
        format_labels(spec.get("selector")),
    ]


ENDPOINTS_COLUMNS = (NAME, Column("Endpoints", "Ready addresses with their ports."), AGE)


def _endpoints_cells(endpoints: Obj, now: datetime) -> Cells:
    subsets = endpoints.get("subsets") or []
    items: list[str] = []
    total = 0
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            total += len(ips)
            items.extend(ips)
            continue
        for port in ports:
            total += len(ips)
            items.extend(_join_host_port(ip, port.get("port", 0)) for ip in ips)
    text = _with_more(items, total) if subsets else "<none>"
    return [_meta(endpoints).get("name", ""), text, _age(endpoints, now)]


NAMESPACE_COLUMNS = (NAME, Column("Status", "The phase of the namespace."), AGE)


def _namespace_cells(namespace: Obj, now: datetime) -> Cells:
    phase = _status(namespace).get("phase", "")
    return [_meta(namespace).get("name", ""), phase, _age(namespace, now)]


EVENT_COLUMNS = (
    Column("Last Seen", "Time since the event was last seen."),
    Column("Type", "Normal or Warning."),
    Column("Reason", "Why the event happened, in CamelCase."),
    Column("Object", "The object the event is about."),
    Column("Subobject", "The part of the object the event is about.", priority=1),
    Column("Source", "The component that reported the event.", priority=1),
    Column("Message", "What happened, for humans."),
    Column("First Seen", "Time since the event was first seen.", priority=1),
    Column("Count", "How many times the event happened.", priority=1),
    Column("Name", "Name of the event object.", format="name", priority=1),
)


def _event_cells(event: Obj, now: datetime) -> Cells:
    first_seen = _since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last_seen = _since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first_seen
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen = _since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        str(event.get("message", "")).strip(),
        first_seen,
        count,
        _meta(event).get("name", ""),
    ]


CONFIGMAP_COLUMNS = (NAME, Column("Data", "Number of data keys.", type="integer"), AGE)


def _configmap_cells(configmap: Obj, now: datetime) -> Cells:
    keys = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [_meta(configmap).get("name", ""), keys, _age(configmap, now)]


SECRET_COLUMNS = (
    NAME,
    Column("Type", "Used to facilitate programmatic handling of secret data."),
    Column("Data", "Number of data keys.", type="integer"),
    AGE,
)


def _secret_cells(secret: Obj, now: datetime) -> Cells:
    return [_meta(secret).get("name", ""), secret.get("type") or "Opaque",
            len(secret.get("data") or {}), _age(secret, now)]  # fmt: skip


SERVICEACCOUNT_COLUMNS = (
    NAME,
    Column("Secrets", "Number of secrets the service account references.", type="integer"),
    AGE,
)


def _serviceaccount_cells(account: Obj, now: datetime) -> Cells:
    return [_meta(account).get("name", ""), len(account.get("secrets") or []), _age(account, now)]


CONTAINERS = Column("Containers", "Names of each container in the template.", priority=1)
IMAGES = Column("Images", "Images referenced by each container in the template.", priority=1)
SELECTOR = Column("Selector", "The label selector of the pods.", priority=1)

REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "Desired number of pods.", type="integer"),
    Column("Current", "Pods that exist now.", type="integer"),
    Column("Ready", "Pods that are ready.", type="integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def _replicaset_cells(replicaset: Obj, now: datetime) -> Cells:
    spec, status = _spec(replicaset), _status(replicaset)
    names, images = _container_cells(_spec(spec.get("template") or {}))
    return [
        _meta(replicaset).get("name", ""),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(replicaset, now),
        names,
        images,
        _format_label_selector(spec.get("selector")),
    ]


DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "Ready pods out of desired pods."),
    Column("Up-to-date", "Pods that run the current template."),
    Column("Available", "Pods available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
)


def _deployment_cells(deployment: Obj, now: datetime) -> Cells:
    spec, status = _spec(deployment), _status(deployment)
    names, images = _container_cells(_spec(spec.get("template") or {}))
    selector = label_selector_string(spec.get("selector"))
    return [
        _meta(deployment).get("name", ""),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(deployment, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


LEASE_COLUMNS = (NAME, Column("Holder", "The current holder of the lease."), AGE)


def _lease_cells(lease: Obj, now: datetime) -> Cells:
    holder = _spec(lease).get("holderIdentity") or ""
    return [_meta(lease).get("name", ""), holder, _age(lease, now)]


DEFAULT_COLUMNS = (NAME, Column("Created At", "When the object was created.", type="date"))


def _default_cells(obj: Obj, now: datetime) -> Cells:
    return [_meta(obj).get("name", ""), _meta(obj).get("creationTimestamp", "")]


Printer = tuple[tuple[Column, ...], Callable[[Obj, datetime], Cells]]

PRINTERS: dict[resources.ResourceType, Printer] = {
    resources.PODS: (POD_COLUMNS, _pod_cells),
    resources.NODES: (NODE_COLUMNS, _node_cells),
    resources.SERVICES: (SERVICE_COLUMNS, _service_cells),
    resources.ENDPOINTS: (ENDPOINTS_COLUMNS, _endpoints_cells),
    resources.NAMESPACES: (NAMESPACE_COLUMNS, _namespace_cells),
    resources.EVENTS: (EVENT_COLUMNS, _event_cells),
    resources.CONFIGMAPS: (CONFIGMAP_COLUMNS, _configmap_cells),
    resources.SECRETS: (SECRET_COLUMNS, _secret_cells),
    resources.SERVICEACCOUNTS: (SERVICEACCOUNT_COLUMNS, _serviceaccount_cells),
    resources.REPLICASETS: (REPLICASET_COLUMNS, _replicaset_cells),
    resources.DEPLOYMENTS: (DEPLOYMENT_COLUMNS, _deployment_cells),
    resources.LEASES: (LEASE_COLUMNS, _lease_cells),
}


def _register_more_printers() -> None:
    """Printers of the kinds kept in modules of their own (they import this module)."""
    from minik8s.apiserver import tables_autoscaling, tables_workloads

    PRINTERS.update(tables_workloads.PRINTERS)
    PRINTERS.update(tables_autoscaling.PRINTERS)


_register_more_printers()


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "Metadata":
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": _meta(obj),
        }
    return None


def to_table(
    rt: resources.ResourceType,
    objects: list[Obj],
    *,
    list_resource_version: str | None = None,
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of `objects` (all of type `rt`), one row each.

    `include_object` is the `includeObject` query parameter: "Metadata" (the default) puts
    a PartialObjectMetadata in each row, "Object" the whole object, "None" nothing.
    Raises ValueError for any other value (the caller answers 400).
    """
    if include_object not in INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT_CHOICES)}, "
            f"not {include_object!r}"
        )
    moment = now or datetime.now(UTC)
    columns, cells_of = PRINTERS.get(rt, (DEFAULT_COLUMNS, _default_cells))
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells_of(obj, moment)}
        if rt == resources.PODS and (conditions := _pod_conditions(obj)):
            row["conditions"] = conditions
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    metadata = {"resourceVersion": list_resource_version} if list_resource_version else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [c.as_dict() for c in columns],
        "rows": rows,
    }
