"""The cloud node controllers' decisions (pure), as Kubernetes' make them.

A kubelet started with `--cloud-provider=external` registers its Node with the
`node.cloudprovider.kubernetes.io/uninitialized` taint; the cloud node controller fills in what
the cloud knows (`spec.providerID`, instance type and zone labels, addresses) and removes the
taint. The lifecycle controller deletes a NotReady node whose instance is gone and taints a
shut-down one with `node.cloudprovider.kubernetes.io/shutdown`.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.cloudcontroller.provider import InstanceMetadata

UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
SHUTDOWN_TAINT = {"key": "node.cloudprovider.kubernetes.io/shutdown", "effect": "NoSchedule"}
PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")


class AddressError(ValueError):
    """The kubelet's node IP is not among the cloud's addresses of the instance."""


def taints_of(node: Object) -> list[dict[str, Any]]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]


def has_taint(node: Object, key: str) -> bool:
    return any(t.get("key") == key for t in taints_of(node))


def uninitialized(node: Object) -> bool:
    return has_taint(node, UNINITIALIZED_TAINT)


def initialized_node(node: Object, metadata: InstanceMetadata) -> Object:
    """The node with what the cloud knows and without the uninitialized taint (Kubernetes'
    node modifiers: the provider ID only when unset, then the labels)."""
    updated = copy.deepcopy(node)
    spec = updated.setdefault("spec", {})
    if not spec.get("providerID") and metadata.provider_id:
        spec["providerID"] = metadata.provider_id
    labels = updated.setdefault("metadata", {}).setdefault("labels", {})
    given = [(INSTANCE_TYPE_LABELS, metadata.instance_type), (ZONE_LABELS, metadata.zone),
             (REGION_LABELS, metadata.region)]  # fmt: skip
    for keys, value in given:
        if value:
            labels.update(dict.fromkeys(keys, value))
    spec["taints"] = [t for t in taints_of(updated) if t.get("key") != UNINITIALIZED_TAINT]
    if not spec["taints"]:
        del spec["taints"]
    return updated


def node_addresses(node: Object, cloud: list[dict[str, str]]) -> list[dict[str, str]]:
    """The addresses to write: the cloud's, with the node's Hostname when the cloud has none,
    and the kubelet's own node IP first when it gave one (Kubernetes'
    GetNodeAddressesFromNodeIP). Raises AddressError when the cloud does not know that IP."""
    addresses = [dict(a) for a in cloud]
    if not any(a.get("type") == "Hostname" for a in addresses):
        addresses += [dict(a) for a in (node.get("status") or {}).get("addresses") or []
                      if a.get("type") == "Hostname"]  # fmt: skip
    provided = meta.annotations_of(node).get(PROVIDED_NODE_IP)
    if not provided:
        return addresses
    try:
        wanted = ipaddress.ip_address(provided.split(",")[0].strip())
    except ValueError as e:
        raise AddressError(f"invalid {PROVIDED_NODE_IP} annotation {provided!r}") from e
    kind = next((a["type"] for a in addresses if _same_ip(a.get("address"), wanted)), None)
    if kind is None:
        raise AddressError(f"failed to get node address from cloud provider that matches ip: "
                           f"{wanted}")  # fmt: skip
    first = [{"type": kind, "address": str(wanted)}]
    same = [a for a in addresses if a["type"] == kind and not _same_ip(a.get("address"), wanted)]
    return first + same + [a for a in addresses if a["type"] != kind]


def _same_ip(text: Any, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(str(text)) == ip
    except ValueError:
        return False


def addresses_changed(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Whether the addresses differ, order included (the node IP comes first). Kubernetes'
    nodeAddressesChangeDetected compares by type and so sees two InternalIPs as a change
    every time."""
    return [(a.get("type"), a.get("address")) for a in old] != [
        (a.get("type"), a.get("address")) for a in new
    ]


def node_ready_status(node: Object) -> str:
    """The Ready condition's status; Unknown when there is none."""
    condition = meta.get_condition(node, "Ready")
    return str(condition.get("status")) if condition else "Unknown"


def with_shutdown_taint(node: Object, shutdown: bool) -> Object | None:
    """The node with the shutdown taint added or removed; None when nothing changes."""
    present = has_taint(node, SHUTDOWN_TAINT["key"])
    if present == shutdown:
        return None
    updated = copy.deepcopy(node)
    spec = updated.setdefault("spec", {})
    taints = [t for t in taints_of(updated) if t.get("key") != SHUTDOWN_TAINT["key"]]
    spec["taints"] = [*taints, dict(SHUTDOWN_TAINT)] if shutdown else taints
    if not spec["taints"]:
        del spec["taints"]
    return updated
