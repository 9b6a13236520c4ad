"""The objects `kubeadm init` creates so that nodes can join with a token (its
`bootstrap-token` phase), written by `minik8s token create` when they are missing (the
compose cluster's token one-shot writes `cluster-info`; an apiserver started with
`--enable-bootstrap-token-auth` also keeps the RBAC ones in its bootstrap policy,
`minik8s.api.bootstraprbac`):

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

from minik8s.api import bootstraprbac, bootstraptoken, errors
from minik8s.api.meta import Object
from minik8s.api.resources import CONFIGMAPS, ResourceType
from minik8s.client import ApiClient

logger = logging.getLogger(__name__)


async def ensure(client: ApiClient, endpoint: str, ca_pem: bytes) -> None:
    """Create what is missing (existing objects are left as they are)."""
    for resource, obj in bootstraprbac.kubeadm_objects():
        await _create(client, resource, obj)
    await ensure_cluster_info(client, endpoint, ca_pem)


async def ensure_cluster_info(client: ApiClient, endpoint: str, ca_pem: bytes) -> None:
    """Create `kube-public/cluster-info` naming `endpoint` unless it exists."""
    await _create(client, CONFIGMAPS, bootstraptoken.cluster_info(endpoint, ca_pem))


async def _create(client: ApiClient, resource: ResourceType, obj: Object) -> None:
    try:
        await client.create(resource, obj, obj["metadata"].get("namespace"))
        logger.info("created %s %s", resource.kind, obj["metadata"]["name"])
    except errors.AlreadyExists:
        pass


async def set_endpoint(client: ApiClient, endpoint: str, ca_pem: bytes, create: bool = True) -> str:
    """Point `cluster-info` at `endpoint` (the load balancer, or the control-plane endpoint,
    once there is one); when it is missing, create it (and what joining needs) only if
    `create`. Say what was done ("": nothing)."""
    desired = bootstraptoken.cluster_info(endpoint, ca_pem)
    namespace = bootstraptoken.CLUSTER_INFO_NAMESPACE
    for _ in range(5):
        try:
            current = await client.get(CONFIGMAPS, bootstraptoken.CLUSTER_INFO, namespace)
        except errors.NotFound:
            if not create:
                return ""
            await ensure(client, endpoint, ca_pem)
            return "created"
        data = dict(current.get("data") or {})
        key = bootstraptoken.KUBECONFIG_KEY
        if data.get(key) == desired["data"][key]:
            return "up to date" if create else ""
        data[key] = desired["data"][key]
        try:
            await client.update(CONFIGMAPS, {**current, "data": data})
            return "updated"
        except errors.Conflict:
            continue
    raise errors.Conflict(f"cluster-info kept changing while it was pointed at {endpoint}")
