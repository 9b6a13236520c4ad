"""The EndpointSlices of a Service, pure: its pods as endpoints, grouped by their resolved
ports, cut into slices of at most `max_per_slice`, and the writes that turn the slices it has
into the slices it should have (Kubernetes' endpointslice reconciler, simplified: slices are
matched by port set and filled in order, instead of packed to minimize churn)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import endpointslices, meta, podutil, selectors
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTSLICES, SERVICES, ResourceType
from minik8s.controllers import endpoints_plan

SERVICE_NAME_LABEL = endpointslices.SERVICE_NAME_LABEL
MANAGED_BY_LABEL = endpointslices.MANAGED_BY_LABEL
MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
"""kube-controller-manager's `--max-endpoints-per-slice` default."""
ADDRESS_TYPE = "IPv4"
"""minik8s's pod network is single-stack IPv4."""

Ports = tuple[tuple[str, int, str, str | None], ...]
"""A port set: (name, number, protocol, appProtocol) of each Service port resolved on a
pod."""
RESERVED_LABELS = (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, endpoints_plan.HEADLESS_LABEL)
"""Labels of the Service a slice does not copy: the controller sets them."""


def service_key(slice_: Object, manager: str) -> list[str]:
    """`[<namespace>/<service>]` of a slice `manager` manages (its managed-by label), else []."""
    labels = meta.labels_of(slice_)
    service = labels.get(SERVICE_NAME_LABEL)
    if not service or labels.get(MANAGED_BY_LABEL) != manager:
        return []
    return [f"{meta.namespace_of(slice_) or ''}/{service}"]


def managed_service_key(slice_: Object) -> list[str]:
    """Index of the slices this controller manages by `<namespace>/<service>`."""
    return service_key(slice_, MANAGED_BY)


def endpoint(
    pod: Object, service: Object, publish_not_ready: bool, zone: str | None = None
) -> dict[str, Any]:
    """The pod as an endpoint: its IP, conditions, node, zone, and a reference to it.

    `serving` is the pod's readiness, `terminating` its deletion; `ready` is serving and not
    terminating, or always under `publishNotReadyAddresses`."""
    terminating = meta.is_deleting(pod)
    serving = podutil.pod_is_ready(pod)
    entry: dict[str, Any] = {
        "addresses": [(pod.get("status") or {}).get("podIP")],
        "conditions": {
            "ready": publish_not_ready or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
    }
    address = endpoints_plan.address(pod, service)
    if "hostname" in address:
        entry["hostname"] = address["hostname"]
    entry["targetRef"] = address["targetRef"]
    if "nodeName" in address:
        entry["nodeName"] = address["nodeName"]
    if zone:
        entry["zone"] = zone
    return entry


def selects_pods(service: Object) -> bool:
    """Every Service with a selector except ExternalName ones. (`selector: {}` is no selector:
    Kubernetes stores objects as protobuf, which reads an empty map back as none.)"""
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def desired_groups(
    service: Object, pods: Iterable[Object], zones: Mapping[str, str] | None = None
) -> dict[Ports, list[dict[str, Any]]]:
    """The Service's endpoints by port set, each list sorted by address. A pod is an endpoint
    while it has an IP and has not finished; a terminating pod stays, marked so. `zones`:
    the `topology.kubernetes.io/zone` of each node that has one."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    groups: dict[Ports, list[dict[str, Any]]] = {}
    if not selects_pods(service):
        return groups
    selector = selectors.label_selector_from_set(spec["selector"])
    for pod in pods:
        if not selector.matches(meta.labels_of(pod)):
            continue
        if not endpoints_plan.pod_in_endpoints(pod, publish_not_ready=True):
            continue
        ports: list[tuple[str, int, str, str | None]] = []
        for service_port in service_ports:
            number = endpoints_plan.resolve_port(pod, service_port)
            if number is not None:
                name = service_port.get("name") or ""
                protocol = service_port.get("protocol") or "TCP"
                ports.append((name, number, protocol, service_port.get("appProtocol")))
        node = (pod.get("spec") or {}).get("nodeName") or ""
        zone = (zones or {}).get(node)
        groups.setdefault(tuple(ports), []).append(endpoint(pod, service, publish_not_ready, zone))
    for entries in groups.values():
        entries.sort(key=lambda e: _address_key(e["addresses"][0]))
    return groups


def _address_key(ip: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(part) for part in ip.split("."))
    except ValueError:
        return (ip,)


def port_list(ports: Ports) -> list[dict[str, Any]]:
    return [
        {"name": name, "port": number, "protocol": protocol,
         **({"appProtocol": app} if app is not None else {})}
        for name, number, protocol, app in ports
    ]  # fmt: skip


def ports_of(slice_: Object) -> Ports:
    """The port set a slice holds (its ports as `port_list` writes them)."""
    return tuple(
        (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
         p.get("appProtocol"))
        for p in slice_.get("ports") or []
        if isinstance(p, dict)
    )  # fmt: skip


def desired_labels(service: Object) -> dict[str, str]:
    """The Service's own labels but the reserved ones, then the controller's: the Service's
    name, the manager, and `service.kubernetes.io/headless` for a headless Service."""
    labels = {k: v for k, v in meta.labels_of(service).items() if k not in RESERVED_LABELS}
    labels[SERVICE_NAME_LABEL] = meta.name_of(service)
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if (service.get("spec") or {}).get("clusterIP") in ("None", ""):
        labels[endpoints_plan.HEADLESS_LABEL] = ""
    return labels


def new_slice(
    service: Object, ports: Ports, endpoints: list[dict[str, Any]], labels: dict[str, str]
) -> Object:
    return owned_slice(SERVICES, service, ports, endpoints, {"labels": labels})


def owned_slice(
    owner_type: ResourceType,
    owner: Object,
    ports: Ports,
    endpoints: list[dict[str, Any]],
    metadata: dict[str, Any],
) -> Object:
    """A slice to create, named after its owner (which controls it), with `metadata` (labels,
    annotations) added."""
    return {
        "apiVersion": ENDPOINTSLICES.api_version,
        "kind": ENDPOINTSLICES.kind,
        "metadata": {
            "generateName": f"{meta.name_of(owner)}-",
            "namespace": meta.namespace_of(owner),
            **metadata,
            "ownerReferences": [meta.owner_reference(owner_type, owner)],
        },
        "addressType": ADDRESS_TYPE,
        "endpoints": endpoints,
        "ports": port_list(ports),
    }


@dataclass
class Writes:
    create: list[Object] = field(default_factory=list)
    update: list[Object] = field(default_factory=list)
    delete: list[Object] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)


def reconcile(
    service: Object,
    pods: Iterable[Object],
    existing: list[Object],
    max_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
    zones: Mapping[str, str] | None = None,
) -> Writes:
    """The writes that leave the Service with its endpoints in slices of at most
    `max_per_slice`, changing as few slices as it can, as Kubernetes' reconciler does: an
    endpoint stays in the slice that holds it (updated if its conditions changed), one that
    went is removed, a new one fills a slice that is written anyway, then one with room, then
    a new slice; a slice left empty is deleted. A Service with no endpoint keeps one empty
    slice without ports (Kubernetes' placeholder), so it always has a slice to read."""
    labels = desired_labels(service)
    groups = desired_groups(service, pods, zones)
    ordered = sorted(existing, key=meta.name_of)
    writes = Writes()
    if not groups:  # the placeholder: the first slice, emptied, or a new one
        if not ordered:
            writes.create.append(new_slice(service, (), [], labels))
            return writes
        wanted = _wanted(ordered[0], [], (), labels)
        if differs(ordered[0], wanted):
            writes.update.append(wanted)
        writes.delete += ordered[1:]
        return writes
    by_ports: dict[Ports, list[Object]] = {}
    for slice_ in ordered:
        by_ports.setdefault(ports_of(slice_), []).append(slice_)
    for ports, entries in sorted(groups.items()):
        _fill(service, ports, entries, by_ports.pop(ports, []), labels, max_per_slice, writes)
    for leftovers in by_ports.values():
        writes.delete += leftovers
    _updates_for_creates(service, writes)
    return writes


def _updates_for_creates(service: Object, writes: Writes) -> None:
    """Recycle the slices to delete that are this Service's (not one of an older Service of
    the same name): the placeholder becomes the first real slice, as in Kubernetes."""
    uid = meta.uid_of(service)
    recycle(writes, lambda doomed: uid in meta.owner_uids(doomed))


def recycle(
    writes: Writes,
    reusable: Callable[[Object], bool],
    metadata_keys: tuple[str, ...] = ("labels",),
) -> None:
    """A slice to create and one to delete become an update of the latter (Kubernetes'
    reconcilers do so), when the slice to delete is `reusable` and of our address type: it
    takes the new slice's endpoints, ports and `metadata_keys`."""
    kept: list[Object] = []
    for doomed in writes.delete:
        if writes.create and reusable(doomed) and doomed.get("addressType") == ADDRESS_TYPE:
            writes.update.append(rewritten(doomed, writes.create.pop(), metadata_keys))
        else:
            kept.append(doomed)
    writes.delete = kept


def rewritten(current: Object, body: Object, metadata_keys: tuple[str, ...]) -> Object:
    """`current` (its name, resourceVersion) holding `body`'s endpoints, ports and the
    `metadata_keys` of its metadata."""
    metadata = dict(current["metadata"])
    metadata.update((k, body["metadata"][k]) for k in metadata_keys if k in body["metadata"])
    return {**current, "endpoints": body["endpoints"], "ports": body["ports"],
            "metadata": metadata}  # fmt: skip


def _fill(
    service: Object,
    ports: Ports,
    entries: list[dict[str, Any]],
    slices: list[Object],
    labels: dict[str, str],
    max_per_slice: int,
    writes: Writes,
) -> None:
    wanted_by_address = {e["addresses"][0]: e for e in entries}
    placed: set[str] = set()
    plans: list[tuple[Object, list[dict[str, Any]]]] = []
    for slice_ in slices:
        kept = []
        for current in slice_.get("endpoints") or []:
            address = (current.get("addresses") or [None])[0]
            if address in wanted_by_address and address not in placed:
                kept.append(wanted_by_address[address])
                placed.add(address)
        plans.append((slice_, kept[:max_per_slice]))
        placed.difference_update(e["addresses"][0] for e in kept[max_per_slice:])
    remaining = [e for e in entries if e["addresses"][0] not in placed]
    # fill the slices written anyway first, then the others with room
    plans.sort(key=lambda p: not differs(p[0], _wanted(p[0], p[1], ports, labels)))
    for _, kept in plans:
        room = max_per_slice - len(kept)
        if room > 0 and remaining:
            kept.extend(remaining[:room])
            remaining = remaining[room:]
    for slice_, kept in plans:
        if not kept:
            writes.delete.append(slice_)
            continue
        wanted = _wanted(slice_, kept, ports, labels)
        if differs(slice_, wanted):
            writes.update.append(wanted)
    for i in range(0, len(remaining), max_per_slice):
        writes.create.append(new_slice(service, ports, remaining[i : i + max_per_slice], labels))


def _wanted(
    current: Object, endpoints: list[dict[str, Any]], ports: Ports, labels: dict[str, str]
) -> Object:
    return {**current, "endpoints": endpoints, "ports": port_list(ports),
            "metadata": {**current["metadata"], "labels": labels}}  # fmt: skip


def differs(current: Object, wanted: Object) -> bool:
    """Whether `wanted` changes the endpoints, ports or labels of `current`."""
    return (
        (current.get("endpoints") or []) != wanted["endpoints"]
        or ports_of(current) != ports_of(wanted)
        or len(current.get("ports") or []) != len(wanted["ports"])
        or meta.labels_of(current) != meta.labels_of(wanted)
    )
