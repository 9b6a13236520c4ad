"""Kubernetes' well-known user and group names, shared by the apiserver and the launchers."""

from __future__ import annotations

SYSTEM_PRIVILEGED_GROUP = "system:masters"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"

KUBE_SCHEDULER = "system:kube-scheduler"
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_PROXY = "system:kube-proxy"
KUBE_DNS = "system:kube-dns"
"""Kubernetes runs kube-dns as the ServiceAccount kube-system/kube-dns; minik8s' DNS process
has a certificate for this user, bound alongside that ServiceAccount."""
KUBE_ADDON_MANAGER = "system:kube-addon-manager"
"""The compose cluster's addon manager: keeps the kube-dns Service's Endpoints at the DNS."""
CLOUD_CONTROLLER_MANAGER = "system:cloud-controller-manager"
KUBE_DASHBOARD = "system:kube-dashboard"
METRICS_SERVER = "system:metrics-server"
"""metrics-server's manifest runs it as the ServiceAccount kube-system/metrics-server; minik8s'
process has a certificate for this user, bound alongside that ServiceAccount."""
KUBELET_API_CLIENT = "kube-apiserver-kubelet-client"
"""The apiserver's client certificate towards kubelets (kubeadm's CN)."""
ADMIN = "kubernetes-admin"
"""The cluster creator's admin user, in system:masters (kubeadm's admin.conf)."""


def node_user(node: str) -> str:
    return f"{NODE_USER_PREFIX}{node}"
