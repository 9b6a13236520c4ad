"""The `kube-system/kube-proxy` ConfigMap, as kubeadm's kube-proxy addon phase publishes it:
its `config.conf` is a `KubeProxyConfiguration` (here only `clusterCIDR`, the pods' range), and
the Role and RoleBinding `kube-proxy` let joining nodes' bootstrap tokens
(`system:bootstrappers:kubeadm:default-node-token`) read that one ConfigMap. `minik8s up
--control-plane-endpoint` publishes it; `minik8s join` reads it with its token and gives its
kube-proxy `--cluster-cidr` (unless `--kube-proxy-arg` sets one).
"""

from __future__ import annotations

import ipaddress
import logging

import yaml

from minik8s.api import bootstraptoken, errors
from minik8s.api.meta import Object
from minik8s.api.resources import CONFIGMAPS, ROLEBINDINGS, ROLES, ResourceType
from minik8s.client import ApiClient

logger = logging.getLogger(__name__)

NAME = "kube-proxy"
"""The ConfigMap, its Role and RoleBinding (kubeadm's `KubeProxyConfigMap`,
`KubeProxyConfigMapRoleName`)."""
NAMESPACE = "kube-system"
KEY = "config.conf"
"""kubeadm's `KubeProxyConfigMapKey`."""
API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"
RBAC = "rbac.authorization.k8s.io"


def configmap(cluster_cidr: str) -> Object:
    config = {"apiVersion": API_VERSION, "kind": "KubeProxyConfiguration",
              "clusterCIDR": cluster_cidr}  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"app": NAME}},
        "data": {KEY: yaml.safe_dump(config, sort_keys=False)},
    }


def rbac_objects() -> list[tuple[ResourceType, Object]]:
    """kubeadm's Role and RoleBinding `kube-proxy`: bootstrap tokens may get that ConfigMap."""
    metadata = {"name": NAME, "namespace": NAMESPACE}
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
            "resourceNames": [NAME]}  # fmt: skip
    subject = {"kind": "Group", "apiGroup": RBAC, "name": bootstraptoken.DEFAULT_NODE_GROUP}
    return [
        (ROLES, {"metadata": dict(metadata), "rules": [rule]}),
        (
            ROLEBINDINGS,
            {
                "metadata": dict(metadata),
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": NAME},
                "subjects": [subject],
            },
        ),
    ]


def cluster_cidr(obj: Object) -> str | None:
    """The `clusterCIDR` of the ConfigMap's KubeProxyConfiguration (None: none, or unusable)."""
    try:
        config = yaml.safe_load((obj.get("data") or {}).get(KEY) or "")
        value = str(config["clusterCIDR"]).strip()
        for part in value.split(","):
            ipaddress.ip_network(part.strip())
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    return value or None


async def publish(client: ApiClient, cidr: str) -> str:
    """Create or correct the ConfigMap and its RBAC; say what was done ("": nothing)."""
    done = []
    for resource, obj in [*rbac_objects(), (CONFIGMAPS, configmap(cidr))]:
        try:
            await client.create(resource, obj, NAMESPACE)
            done.append(f"{resource.kind} created")
        except errors.AlreadyExists:
            if resource is not CONFIGMAPS:
                continue
            current = await client.get(CONFIGMAPS, NAME, NAMESPACE)
            if cluster_cidr(current) != cidr:
                await client.update(CONFIGMAPS, {**current, "data": obj["data"]})
                done.append("ConfigMap updated")
    return ", ".join(done)


async def read(client: ApiClient) -> str | None:
    """The cluster's pod range from the ConfigMap, as a joining node (None: not published, or
    not readable with this credential)."""
    try:
        return cluster_cidr(await client.get(CONFIGMAPS, NAME, NAMESPACE))
    except (errors.NotFound, errors.Forbidden):
        return None
