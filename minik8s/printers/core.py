"""Printers of the core (`v1`) group, as `kubectl get` shows them: Pods, Nodes, Services,
Endpoints, Namespaces, Events, ConfigMaps, Secrets, ServiceAccounts, ReplicationControllers,
PersistentVolumes and PersistentVolumeClaims."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta, storageutil, times
from minik8s.api.meta import Object
from minik8s.printers.columns import (
    AGE,
    NAME,
    TEMPLATE_COLUMNS,
    Cells,
    Column,
    age,
    format_labels,
    join_host_port,
    replica_cells,
    template_cells,
    with_more,
)

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


def _is_sidecar(container: Object | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list[Object], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _finished_at(container_status: Object) -> datetime | None:
    terminated = (container_status.get("lastState") or {}).get("terminated") or {}
    return times.parse_time(terminated.get("finishedAt"))


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _terminated_reason(terminated: Object) -> str:
    if terminated.get("reason"):
        return str(terminated["reason"])
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"


def pod_cells(pod: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(pod), meta.status_of(pod)
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

    if meta.is_deleting(pod):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({times.human_duration(now - last_restart)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        by_type = {c.get("type"): c.get("status") for c in conditions}
        passing = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_text = f"{passing}/{len(gates)}"
    return [
        meta.name_of(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def pod_conditions(pod: Object) -> list[Object] | None:
    phase = meta.status_of(pod).get("phase")
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


def node_cells(node: Object, now: datetime) -> Cells:
    status, info = meta.status_of(node), meta.status_of(node).get("nodeInfo") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = ["Unknown"] if not ready else [
        "Ready" if ready[-1].get("status") == "True" else "NotReady"
    ]  # fmt: skip
    if meta.spec_of(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (meta.labels_of(node)).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)

    def address(kind: str) -> str:
        found = [a for a in status.get("addresses") or [] if a.get("type") == kind]
        return found[0].get("address", "") if found else "<none>"

    return [
        meta.name_of(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        age(node, now),
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


def _service_external_ip(service: Object) -> str:
    spec = meta.spec_of(service)
    external = list(spec.get("externalIPs") or [])
    match spec.get("type") or "ClusterIP":
        case "ClusterIP" | "NodePort":
            return ",".join(external) or "<none>"
        case "LoadBalancer":
            ingress = (meta.status_of(service).get("loadBalancer") or {}).get("ingress") or []
            balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
            return ",".join(balancers + external) or "<pending>"
        case "ExternalName":
            return str(spec.get("externalName", ""))
    return "<unknown>"


def service_cells(service: Object, now: datetime) -> Cells:
    spec = meta.spec_of(service)
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
        meta.name_of(service),
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        ",".join(ports) or "<none>",
        age(service, now),
        format_labels(spec.get("selector")),
    ]


ENDPOINTS_COLUMNS = (NAME, Column("Endpoints", "Ready addresses with their ports."), AGE)


def endpoints_cells(endpoints: Object, now: datetime) -> Cells:
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
            items.extend(join_host_port(ip, port.get("port", 0)) for ip in ips)
    text = with_more(items, total) if subsets else "<none>"
    return [meta.name_of(endpoints), text, age(endpoints, now)]


NAMESPACE_COLUMNS = (NAME, Column("Status", "The phase of the namespace."), AGE)


def namespace_cells(namespace: Object, now: datetime) -> Cells:
    phase = meta.status_of(namespace).get("phase", "")
    return [meta.name_of(namespace), phase, age(namespace, now)]


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


def event_cells(event: Object, now: datetime) -> Cells:
    first_seen = times.since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last_seen = (
        times.since(event["lastTimestamp"], now) if event.get("lastTimestamp") else first_seen
    )
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen = times.since(series.get("lastObservedTime"), now)
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
        meta.name_of(event),
    ]


CONFIGMAP_COLUMNS = (NAME, Column("Data", "Number of data keys.", type="integer"), AGE)


def configmap_cells(configmap: Object, now: datetime) -> Cells:
    keys = len(configmap.get("data") or {}) + len(configmap.get("binaryData") or {})
    return [meta.name_of(configmap), keys, age(configmap, now)]


RC_COLUMNS = (
    NAME,
    Column("Desired", "Number of desired pods.", type="integer"),
    Column("Current", "Number of actually running pods.", type="integer"),
    Column("Ready", "Number of ready pods.", type="integer"),
    *TEMPLATE_COLUMNS,
)


def rc_cells(rc: Object, now: datetime) -> Cells:
    spec = meta.spec_of(rc)
    selector = format_labels(spec.get("selector"))
    return [
        meta.name_of(rc),
        *replica_cells(rc),
        *template_cells(rc, spec.get("template"), selector, now),
    ]


SECRET_COLUMNS = (
    NAME,
    Column("Type", "Used to facilitate programmatic handling of secret data."),
    Column("Data", "Number of data keys.", type="integer"),
    AGE,
)


def secret_cells(secret: Object, now: datetime) -> Cells:
    return [meta.name_of(secret), secret.get("type") or "Opaque",
            len(secret.get("data") or {}), age(secret, now)]  # fmt: skip


SERVICEACCOUNT_COLUMNS = (
    NAME,
    Column("Secrets", "Number of secrets the service account references.", type="integer"),
    AGE,
)


def serviceaccount_cells(account: Object, now: datetime) -> Cells:
    return [meta.name_of(account), len(account.get("secrets") or []), age(account, now)]


VOLUME_ATTRIBUTES_CLASS = Column("VolumeAttributesClass", "VolumeAttributesClass of the volume.")
VOLUME_MODE = Column("VolumeMode", "The volume mode (Filesystem or Block).", priority=1)

PV_COLUMNS = (
    NAME,
    Column("Capacity", "The capacity of the volume."),
    Column("Access Modes", "The access modes of the volume."),
    Column("Reclaim Policy", "What happens to the volume when its claim is released."),
    Column("Status", "The phase of the volume."),
    Column("Claim", "The claim bound to the volume."),
    Column("StorageClass", "The StorageClass of the volume."),
    VOLUME_ATTRIBUTES_CLASS,
    Column("Reason", "Why the volume is in this phase."),
    AGE,
    VOLUME_MODE,
)


def _phase(obj: Object) -> str:
    if meta.is_deleting(obj):
        return "Terminating"
    return str(meta.status_of(obj).get("phase") or "")


def pv_cells(pv: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(pv), meta.status_of(pv)
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    return [
        meta.name_of(pv),
        str((spec.get("capacity") or {}).get("storage", "")),
        storageutil.short_access_modes(spec.get("accessModes") or []),
        spec.get("persistentVolumeReclaimPolicy", ""),
        _phase(pv),
        claim,
        storageutil.volume_class(pv),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        age(pv, now),
        spec.get("volumeMode") or "<unset>",
    ]


PVC_COLUMNS = (
    NAME,
    Column("Status", "The phase of the claim."),
    Column("Volume", "The volume bound to the claim."),
    Column("Capacity", "The capacity of the bound volume."),
    Column("Access Modes", "The access modes of the bound volume."),
    Column("StorageClass", "The StorageClass of the claim."),
    VOLUME_ATTRIBUTES_CLASS,
    AGE,
    VOLUME_MODE,
)


def pvc_cells(pvc: Object, now: datetime) -> Cells:
    spec, status = meta.spec_of(pvc), meta.status_of(pvc)
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = storageutil.short_access_modes(status.get("accessModes") or [])
        capacity = str((status.get("capacity") or {}).get("storage", ""))
    return [
        meta.name_of(pvc),
        _phase(pvc),
        spec.get("volumeName", ""),
        capacity,
        modes,
        storageutil.claim_class(pvc) or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        age(pvc, now),
        spec.get("volumeMode") or "<unset>",
    ]
