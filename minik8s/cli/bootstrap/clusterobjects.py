"""The objects `kubeadm init` creates so that nodes can join with a token (its
`bootstrap-token` phase), written once by `minik8s up`, and by `minik8s token create` when
they are missing:

- ClusterRoleBindings of the token group `system:bootstrappers:kubeadm:default-node-token` to
  `system:node-bootstrapper` (`kubeadm:kubelet-bootstrap`: create CSRs), to the `nodeclient`
  auto-approval role (`kubeadm:node-autoapprove-bootstrap`) and to `kubeadm:get-nodes`; of
  `system:nodes` to `selfnodeclient` (`kubeadm:node-autoapprove-certificate-rotation`);
- the `cluster-info` ConfigMap in `kube-public` (the control plane's endpoint and CA), and the
  Role and RoleBinding `kubeadm:bootstrap-signer-clusterinfo` that let `system:anonymous`
  read it (nothing else of the cluster).
"""

from __future__ import annotations

import logging

from minik8s.api import bootstraptoken, errors
from minik8s.api.meta import Object
from minik8s.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    ROLEBINDINGS,
    ROLES,
    ResourceType,
)
from minik8s.api.users import ANONYMOUS, NODES_GROUP
from minik8s.client import ApiClient

logger = logging.getLogger(__name__)

RBAC = "rbac.authorization.k8s.io"
NODE_BOOTSTRAPPER = "system:node-bootstrapper"
NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
GET_NODES = "kubeadm:get-nodes"
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"


def _group(name: str) -> Object:
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def _binding(name: str, role: str, subject: Object) -> Object:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def rbac_objects() -> list[tuple[ResourceType, Object]]:
    token_group = _group(bootstraptoken.DEFAULT_NODE_GROUP)
    public = bootstraptoken.CLUSTER_INFO_NAMESPACE
    return [
        (
            CLUSTERROLES,
            {
                "metadata": {"name": GET_NODES},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
            },
        ),
        (CLUSTERROLEBINDINGS, _binding(GET_NODES, GET_NODES, token_group)),
        (
            CLUSTERROLEBINDINGS,
            _binding("kubeadm:kubelet-bootstrap", NODE_BOOTSTRAPPER, token_group),
        ),
        (
            CLUSTERROLEBINDINGS,
            _binding("kubeadm:node-autoapprove-bootstrap", NODE_CLIENT, token_group),
        ),
        (
            CLUSTERROLEBINDINGS,
            _binding(
                "kubeadm:node-autoapprove-certificate-rotation",
                SELF_NODE_CLIENT,
                _group(NODES_GROUP),
            ),
        ),
        (
            ROLES,
            {
                "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": public},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "resourceNames": [bootstraptoken.CLUSTER_INFO],
                        "verbs": ["get"],
                    }
                ],
            },
        ),
        (
            ROLEBINDINGS,
            {
                "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": public},
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": CLUSTER_INFO_ROLE},
                "subjects": [{"kind": "User", "apiGroup": RBAC, "name": ANONYMOUS}],
            },
        ),
    ]


async def ensure(client: ApiClient, endpoint: str, ca_pem: bytes) -> None:
    """Create what is missing (existing objects are left as they are)."""
    wanted = [
        *rbac_objects(),
        (CONFIGMAPS, bootstraptoken.cluster_info(endpoint, ca_pem)),
    ]
    for resource, obj in wanted:
        namespace = obj["metadata"].get("namespace")
        try:
            await client.create(resource, obj, namespace)
            logger.info("created %s %s", resource.kind, obj["metadata"]["name"])
        except errors.AlreadyExists:
            pass


async def set_endpoint(client: ApiClient, endpoint: str, ca_pem: bytes) -> None:
    """Point `cluster-info` at `endpoint` (the load balancer, once there is one)."""
    desired = bootstraptoken.cluster_info(endpoint, ca_pem)
    namespace = bootstraptoken.CLUSTER_INFO_NAMESPACE
    for _ in range(5):
        try:
            current = await client.get(CONFIGMAPS, bootstraptoken.CLUSTER_INFO, namespace)
        except errors.NotFound:
            await ensure(client, endpoint, ca_pem)
            return
        data = dict(current.get("data") or {})
        key = bootstraptoken.KUBECONFIG_KEY
        if data.get(key) == desired["data"][key]:
            return
        data[key] = desired["data"][key]
        try:
            await client.update(CONFIGMAPS, {**current, "data": data})
            return
        except errors.Conflict:
            continue
