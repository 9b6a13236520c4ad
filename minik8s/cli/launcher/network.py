"""The addresses of a `minik8s up` cluster's networks, and where pods reach the host.

Pods live on the Docker bridge network `minik8s` (the kubelets' default `--pod-subnet`); the
host's address on it, its gateway, is where the pods' packets for the apiserver and the DNS
arrive once kube-proxy has DNATed them from the `kubernetes` and `kube-dns` Services. The
apiserver and the DNS listen there (bound before the bridge exists, with IP_FREEBIND);
kube-proxy's MINIK8S-POD-FIREWALL lets pods reach those ports through their Service only.
"""

from __future__ import annotations

import ipaddress

POD_SUBNET = "10.244.0.0/16"
"""The kubelets' pod network (their `--pod-subnet` default)."""
SERVICE_CIDR = "10.96.0.0/16"
"""The apiserver's `--service-cluster-ip-range` default."""
CLUSTER_DNS = "10.96.0.10"
"""The `kube-dns` Service's ClusterIP (the kubelets' `--cluster-dns` default)."""
CLUSTER_DOMAIN = "cluster.local"


def pod_gateway(subnet: str = POD_SUBNET) -> str:
    """The host's address on the pod network: its first address, as Docker gives it."""
    return str(ipaddress.ip_network(subnet).network_address + 1)


def kubernetes_service_ip(service_cidr: str = SERVICE_CIDR) -> str:
    return str(ipaddress.ip_network(service_cidr).network_address + 1)
