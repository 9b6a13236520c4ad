"""The EndpointSlices mirrored from an Endpoints, pure (Kubernetes' endpointslicemirroring
reconciler): a Service without a selector has hand-written Endpoints; each subset becomes
one slice of its ports, owned by the Endpoints and labelled as this controller's.

As in Kubernetes: ready addresses are endpoints with `ready: true`, not-ready ones `ready:
false`; at most `max_per_subset` addresses of a subset are mirrored (ready ones first), the
rest skipped; an address that is not an IP is skipped; subsets with the same ports share one
slice. The Endpoints' labels are copied (the service-name and managed-by labels set over
them), and its annotations but the trigger time and kubectl's last applied configuration.
minik8s is IPv4 only: an IPv6 address is skipped like an invalid one."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import endpointslices, meta
from minik8s.api.meta import Object
from minik8s.api.resources import ENDPOINTS
from minik8s.controllers import endpointslice_plan as slices
from minik8s.controllers.endpointslice_plan import ADDRESS_TYPE, Ports, Writes

MANAGED_BY = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR_LABEL = endpointslices.SKIP_MIRROR_LABEL
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
"""An Endpoints holding a leader-election record (an old lock kind) is not mirrored."""
UNCOPIED_ANNOTATIONS = (
    "endpoints.kubernetes.io/last-change-trigger-time",
    "kubectl.kubernetes.io/last-applied-configuration",
)
MAX_ENDPOINTS_PER_SUBSET = 1000
"""kube-controller-manager's `--mirroring-max-endpoints-per-subset` default."""
METADATA_KEYS = ("labels", "annotations", "ownerReferences")
"""The metadata a mirrored slice takes from its Endpoints."""


def mirrored_key(slice_: Object) -> list[str]:
    """Index of the slices this controller mirrored, by `<namespace>/<endpoints>`."""
    return slices.service_key(slice_, MANAGED_BY)


def should_mirror(endpoints: Object) -> bool:
    """Not labelled skip-mirror, not a leader-election lock."""
    skip = meta.labels_of(endpoints).get(SKIP_MIRROR_LABEL) == "true"
    return not skip and LEADER_ANNOTATION not in meta.annotations_of(endpoints)


def has_selector(service: Object) -> bool:
    """Only the Endpoints of a Service without a selector are mirrored (`selector: {}` is none,
    as in Kubernetes, which reads an empty map back from protobuf as none). Whatever its type:
    Kubernetes mirrors an ExternalName Service's Endpoints too."""
    return bool((service.get("spec") or {}).get("selector"))


def endpoint(address: Mapping[str, Any], ready: bool) -> dict[str, Any] | None:
    """The address as an endpoint, or None when its `ip` is not an IPv4 address."""
    try:
        ip = ipaddress.IPv4Address(str(address.get("ip") or ""))
    except ValueError:
        return None
    entry: dict[str, Any] = {"addresses": [str(ip)], "conditions": {"ready": ready}}
    if address.get("hostname"):
        entry["hostname"] = address["hostname"]
    if address.get("nodeName"):
        entry["nodeName"] = address["nodeName"]
    if address.get("targetRef"):
        entry["targetRef"] = address["targetRef"]
    return entry


@dataclass
class Desired:
    groups: dict[Ports, list[dict[str, Any]]] = field(default_factory=dict)
    """The endpoints of each port set."""
    invalid: int = 0
    """Addresses skipped as not IPv4."""
    skipped: int = 0
    """Addresses skipped in all (invalid ones and those over `max_per_subset`)."""


def desired(endpoints: Object, max_per_subset: int = MAX_ENDPOINTS_PER_SUBSET) -> Desired:
    """The endpoints to mirror, by port set: each subset's ready then not-ready addresses, at
    most `max_per_subset` of them mirrored (and of a port set several subsets share); an
    address twice in a port set once."""
    want = Desired()
    seen: dict[Ports, set[str]] = {}
    for subset in endpoints.get("subsets") or []:
        ports = slices.ports_of(subset)  # a subset's ports have a slice's fields
        group = want.groups.setdefault(ports, [])
        addresses = seen.setdefault(ports, set())
        listed = [(a, True) for a in subset.get("addresses") or []]
        listed += [(a, False) for a in subset.get("notReadyAddresses") or []]
        added = 0
        for address, ready in listed:
            if added >= max_per_subset:
                break
            entry = endpoint(address, ready)
            if entry is None:
                want.invalid += 1
                continue
            added += 1
            if entry["addresses"][0] not in addresses:
                addresses.add(entry["addresses"][0])
                group.append(entry)
        want.skipped += len(listed) - added
    for ports, group in list(want.groups.items()):
        want.skipped += max(0, len(group) - max_per_subset)
        del group[max_per_subset:]
        if not group:
            del want.groups[ports]
    return want


def desired_labels(endpoints: Object) -> dict[str, str]:
    """The Endpoints' labels, with the service name and the manager set over them."""
    return {
        **meta.labels_of(endpoints),
        slices.SERVICE_NAME_LABEL: meta.name_of(endpoints),
        slices.MANAGED_BY_LABEL: MANAGED_BY,
    }


def desired_annotations(endpoints: Object) -> dict[str, str]:
    return {
        k: v for k, v in meta.annotations_of(endpoints).items() if k not in UNCOPIED_ANNOTATIONS
    }


def new_slice(endpoints: Object, ports: Ports, entries: list[dict[str, Any]]) -> Object:
    metadata = {"labels": desired_labels(endpoints), "annotations": desired_annotations(endpoints)}
    return slices.owned_slice(ENDPOINTS, endpoints, ports, entries, metadata)


@dataclass
class Plan:
    writes: Writes
    invalid: int
    skipped: int


def reconcile(
    endpoints: Object, existing: list[Object], max_per_subset: int = MAX_ENDPOINTS_PER_SUBSET
) -> Plan:
    """The writes that leave the Endpoints mirrored in one slice per port set: the first
    existing slice of a port set (by name) is kept, updated when it differs, the others
    deleted; a slice of a port set no longer wanted is reused for a new one or deleted. An
    Endpoints being deleted gets no new slice."""
    want = desired(endpoints, max_per_subset)
    writes = Writes()
    by_ports: dict[Ports, list[Object]] = {}
    for slice_ in sorted(existing, key=meta.name_of):
        if slice_.get("addressType") != ADDRESS_TYPE:
            writes.delete.append(slice_)
        else:
            by_ports.setdefault(slices.ports_of(slice_), []).append(slice_)
    for ports, entries in want.groups.items():
        body = new_slice(endpoints, ports, entries)
        current = by_ports.pop(ports, [])
        if not current:
            writes.create.append(body)
            continue
        writes.delete += current[1:]
        wanted = slices.rewritten(current[0], body, METADATA_KEYS)
        if differs(current[0], wanted):
            writes.update.append(wanted)
    for leftovers in by_ports.values():
        writes.delete += leftovers
    slices.recycle(writes, lambda doomed: True, METADATA_KEYS)
    if meta.is_deleting(endpoints):
        writes.create = []
    return Plan(writes, want.invalid, want.skipped)


def differs(current: Object, wanted: Object) -> bool:
    """Whether `wanted` changes the slice's endpoints, ports, labels, annotations or owner."""
    return (
        slices.differs(current, wanted)
        or meta.annotations_of(current) != meta.annotations_of(wanted)
        or meta.owner_references(current) != meta.owner_references(wanted)
    )
