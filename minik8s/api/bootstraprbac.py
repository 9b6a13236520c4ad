"""The RBAC objects joining with a bootstrap token needs (pure data, shared by the apiserver's
bootstrap policy and `minik8s token create`).

kubeadm creates these in its `bootstrap-token` phase (as the cluster's admin):

- ClusterRoleBindings of the token group `system:bootstrappers:kubeadm:default-node-token` to
  `system:node-bootstrapper` (`kubeadm:kubelet-bootstrap`: create CSRs), to the `nodeclient`
  auto-approval role (`kubeadm:node-autoapprove-bootstrap`) and to `kubeadm:get-nodes`; of
  `system:nodes` to `selfnodeclient` (`kubeadm:node-autoapprove-certificate-rotation`);
- the Role and RoleBinding `kubeadm:bootstrap-signer-clusterinfo` that let `system:anonymous`
  read the `cluster-info` ConfigMap in `kube-public` (nothing else of the cluster).

minik8s' own addition (the docker-compose cluster's one-shot `bootstrap-token` service, which
writes the token's Secret and `cluster-info` once the apiserver is up): the user
`system:minik8s:bootstrap-token` may create Secrets in `kube-system` and ConfigMaps in
`kube-public`, nothing else: it cannot read a Secret, not even the one it wrote.
"""

from __future__ import annotations

from minik8s.api import bootstraptoken
from minik8s.api.meta import Object
from minik8s.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ROLEBINDINGS,
    ROLES,
    ResourceType,
)
from minik8s.api.users import ANONYMOUS, NODES_GROUP

RBAC = "rbac.authorization.k8s.io"
NODE_BOOTSTRAPPER = "system:node-bootstrapper"
NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
SELF_NODE_CLIENT = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
GET_NODES = "kubeadm:get-nodes"
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"
TOKEN_WRITER = "system:minik8s:bootstrap-token"
"""The compose cluster's one-shot that writes the nodes' token Secret (kubeadm runs its
bootstrap-token phase as the admin: minik8s gives the one-shot an identity of its own)."""


def _group(name: str) -> Object:
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def _user(name: str) -> Object:
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def _binding(name: str, role: str, subject: Object, namespace: str | None = None) -> Object:
    kind = "Role" if namespace else "ClusterRole"
    metadata = {"name": name, "namespace": namespace} if namespace else {"name": name}
    return {
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
        "subjects": [subject],
    }


def _role(
    name: str, namespace: str, resource: str, verbs: list[str], only: str | None = None
) -> Object:
    rule: Object = {"apiGroups": [""], "resources": [resource], "verbs": verbs}
    if only:
        rule["resourceNames"] = [only]
    return {"metadata": {"name": name, "namespace": namespace}, "rules": [rule]}


def kubeadm_objects() -> list[tuple[ResourceType, Object]]:
    """kubeadm's bindings for joining nodes (its bootstrap-token phase)."""
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
            _role(
                CLUSTER_INFO_ROLE, public, "configmaps", ["get"], only=bootstraptoken.CLUSTER_INFO
            ),
        ),
        (ROLEBINDINGS, _binding(CLUSTER_INFO_ROLE, CLUSTER_INFO_ROLE, _user(ANONYMOUS), public)),
    ]


def token_writer_objects() -> list[tuple[ResourceType, Object]]:
    """What the one-shot `bootstrap-token` service may do: create the token's Secret in
    kube-system and `cluster-info` in kube-public."""
    system, public = bootstraptoken.NAMESPACE, bootstraptoken.CLUSTER_INFO_NAMESPACE
    return [
        (ROLES, _role(TOKEN_WRITER, system, "secrets", ["create"])),
        (ROLEBINDINGS, _binding(TOKEN_WRITER, TOKEN_WRITER, _user(TOKEN_WRITER), system)),
        (ROLES, _role(TOKEN_WRITER, public, "configmaps", ["create"])),
        (ROLEBINDINGS, _binding(TOKEN_WRITER, TOKEN_WRITER, _user(TOKEN_WRITER), public)),
    ]
