"""A pod's /etc/resolv.conf and /etc/hosts, as the kubelet builds them (pure).

resolv.conf follows Kubernetes' `GetPodDNS`:
- `ClusterFirst` (the default) and `ClusterFirstWithHostNet`: the cluster DNS (`--cluster-dns`),
  `search <ns>.svc.<domain> svc.<domain> <domain>` then the node's own search domains,
  `options ndots:5`; without a cluster DNS, the node's configuration (`Default`);
- `Default`: the node's resolv.conf (`--resolv-conf`): its nameservers, searches and options;
- `None`: nothing but the pod's `dnsConfig`.
`dnsConfig` is then merged in: its nameservers and searches appended (without duplicates), its
options set by name. Beyond 3 nameservers or 32 search domains the rest is dropped, with a
warning the kubelet records as an Event (`DNSConfigForming`), as Kubernetes does.

/etc/hosts is Kubernetes' managed file: localhost, the pod's IP with its hostname (and its FQDN
when it has a `subdomain`), then the `hostAliases`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
DEFAULT_OPTIONS = ("ndots:5",)
HOSTNAME_MAX = 63


@dataclass(frozen=True)
class HostDNS:
    """The node's resolver configuration (`--resolv-conf`)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Why something was left out (recorded as a `DNSConfigForming` Event)."""

    def render(self) -> str:
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines.extend(f"nameserver {ns}" for ns in self.nameservers)
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse_resolv_conf(text: str) -> HostDNS:
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            nameservers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = [w.rstrip(".") for w in words[1:]]  # the last one wins, as in glibc
        elif words[0] == "options":
            options.extend(words[1:])
    return HostDNS(tuple(nameservers), tuple(searches), tuple(options))


def resolv_conf(
    pod: dict[str, Any], cluster_dns: tuple[str, ...], cluster_domain: str, host: HostDNS
) -> ResolvConf:
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(spec.get("hostNetwork"))
    result = ResolvConf()
    cluster_first = policy == "ClusterFirstWithHostNet" or (
        policy == "ClusterFirst" and not host_network
    )
    if cluster_first and not cluster_dns:
        result.warnings.append(
            "ClusterFirst policy specified but no cluster DNS set (--cluster-dns): "
            'falling back to "Default" policy'
        )
        policy, cluster_first = "Default", False
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    if cluster_first:
        result.nameservers = list(cluster_dns)
        result.searches = [
            f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain,
            *host.searches,
        ]  # fmt: skip
        result.options = list(DEFAULT_OPTIONS)
    elif policy != "None":  # Default, or ClusterFirst on the host's network
        result.nameservers = list(host.nameservers)
        result.searches = list(host.searches)
        result.options = list(host.options)
    config = spec.get("dnsConfig") or {}
    _merge(result, config)
    _limit(result)
    return result


def _merge(result: ResolvConf, config: dict[str, Any]) -> None:
    """Kubernetes' appendDNSConfig: nameservers and searches appended without duplicates,
    options set by name (a later value replaces an earlier one)."""
    for ns in config.get("nameservers") or []:
        if ns not in result.nameservers:
            result.nameservers.append(str(ns))
    for search in config.get("searches") or []:
        if search not in result.searches:
            result.searches.append(str(search))
    options: dict[str, str] = {}
    for option in result.options:
        options[option.partition(":")[0]] = option
    for option in config.get("options") or []:
        name = str(option.get("name") or "")
        value = option.get("value")
        options[name] = f"{name}:{value}" if value is not None else name
    result.options = list(options.values())


def _limit(result: ResolvConf) -> None:
    if len(result.nameservers) > MAX_NAMESERVERS:
        result.warnings.append(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied "
            f"nameserver line is: {' '.join(result.nameservers[:MAX_NAMESERVERS])}"
        )
        result.nameservers = result.nameservers[:MAX_NAMESERVERS]
    if len(result.searches) > MAX_SEARCHES:
        result.warnings.append(
            "Search Line limits were exceeded, some search paths have been omitted, the applied "
            f"search line is: {' '.join(result.searches[:MAX_SEARCHES])}"
        )
        result.searches = result.searches[:MAX_SEARCHES]


# --- /etc/hosts ------------------------------------------------------------------------------


def hostname_and_domain(pod: dict[str, Any], cluster_domain: str) -> tuple[str, str]:
    """Kubernetes' GeneratePodHostNameAndDomain: `spec.hostname` or the pod's name (at most
    63 characters), and `<subdomain>.<ns>.svc.<domain>` when the pod has a subdomain."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = str(spec.get("hostname") or meta.get("name") or "")
    if len(hostname) > HOSTNAME_MAX:
        hostname = hostname[:HOSTNAME_MAX].rstrip("-.")
    domain = ""
    if spec.get("subdomain"):
        domain = f"{spec['subdomain']}.{meta.get('namespace') or 'default'}.svc.{cluster_domain}"
    return hostname, domain


def hosts_file(pod: dict[str, Any], pod_ip: str, cluster_domain: str) -> str:
    """Kubernetes' managed /etc/hosts of a pod."""
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if pod_ip:
        names = f"{hostname}.{domain}\t{hostname}" if domain else hostname
        lines.append(f"{pod_ip}\t{names}")
    return "\n".join(lines) + "\n" + _host_aliases(pod)


def host_network_hosts_file(pod: dict[str, Any], node_hosts: str) -> str:
    """A hostNetwork pod's /etc/hosts: its node's, then the pod's hostAliases (Kubernetes'
    nodeHostsFileContent)."""
    if node_hosts and not node_hosts.endswith("\n"):
        node_hosts += "\n"
    return "# Kubernetes-managed hosts file (host network).\n" + node_hosts + _host_aliases(pod)


def _host_aliases(pod: dict[str, Any]) -> str:
    aliases = (pod.get("spec") or {}).get("hostAliases") or []
    if not aliases:
        return ""
    lines = ["", "# Entries added by HostAliases."]
    for alias in aliases:
        hostnames = "\t".join(str(h) for h in alias.get("hostnames") or [])
        lines.append(f"{alias.get('ip')}\t{hostnames}")
    return "\n".join(lines) + "\n"
