"""MINIK8S-POD-FIREWALL: what pods may not reach (pure rule rendering).

The project's rule: a pod never reaches the node itself (its kubelet, etcd, anything listening
on the host) nor the networks the nodes live on (`RuleOptions.forbidden_pod_destinations`:
the compose network with etcd and the other nodes' kubelets), except the cluster's own
services that run there: the endpoints of `default/kubernetes` (the apiserver) and of the
Services in `kube-system` (the DNS), and only on their port, only through their Service (the
packet was DNATed by a Service rule: `--ctstate DNAT`). Hooked first into filter INPUT and
FORWARD for packets from the pod network:

    ! -s <cluster cidr> -j RETURN                       # not from a pod
    -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
    -d <ip> -p <proto> --dport <port> -m conntrack --ctstate DNAT -j RETURN   # per endpoint
    -m addrtype --dst-type LOCAL -j REJECT              # the node itself
    -d <forbidden cidr> -j REJECT                       # per forbidden destination

Kubernetes itself leaves pods free to reach their node (NetworkPolicy is how a cluster closes
that); minik8s closes it by default because its nodes run the control plane.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minik8s.proxy.rules import RuleOptions, ServicePort

POD_FIREWALL = "MINIK8S-POD-FIREWALL"
SYSTEM_NAMESPACE = "kube-system"
API_SERVICE = ("default", "kubernetes")


def is_system(namespace: str, name: str) -> bool:
    """A Service of the cluster itself, whose endpoints may live on a node."""
    return namespace == SYSTEM_NAMESPACE or (namespace, name) == API_SERVICE


def firewall_rules(ports: Iterable[ServicePort], options: RuleOptions) -> list[str]:
    """The chain's rules (empty without a cluster CIDR: pods cannot be told apart)."""
    if not options.cluster_cidr:
        return []
    rules = [
        f"! -s {options.cluster_cidr} -j RETURN",
        '-m comment --comment "minik8s pod firewall: replies" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    ]
    allowed: dict[tuple[str, str, int], str] = {}
    for sp in ports:
        if not is_system(sp.namespace, sp.name):
            continue
        for endpoint in sp.endpoints:
            allowed.setdefault((endpoint.ip, sp.protocol, endpoint.port), sp.key)
    for (ip, protocol, port), key in sorted(allowed.items()):
        rules.append(
            f'-d {ip}/32 -p {protocol} -m {protocol} --dport {port} -m comment --comment "{key} '
            'through its service" -m conntrack --ctstate DNAT -j RETURN'
        )
    rules.append(
        '-m addrtype --dst-type LOCAL -m comment --comment "minik8s pod firewall: pods may '
        'not reach their node" -j REJECT --reject-with icmp-port-unreachable'
    )
    for cidr in options.forbidden_pod_destinations:
        rules.append(
            f'-d {cidr} -m comment --comment "minik8s pod firewall: the nodes\' network" '
            "-j REJECT --reject-with icmp-port-unreachable"
        )
    return rules
