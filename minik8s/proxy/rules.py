"""Pure rule rendering: Services + Endpoints → the `iptables-restore` input of our own chains.

The layout follows Kubernetes' iptables mode, with our `MINIK8S-` prefix:

nat:  PREROUTING, OUTPUT → MINIK8S-SERVICES → (cluster IP:port) MINIK8S-SVC-<hash>
                          └→ (last rule, local destination) MINIK8S-NODEPORTS → MINIK8S-SVC-<hash>
      MINIK8S-SVC-<hash>: mark for masquerade traffic from outside the pod network, then pick
      an endpoint with `-m statistic --mode random --probability 1/n, 1/(n-1), …, (last: always)`
      (with `sessionAffinity: ClientIP`, a `-m recent` check first sends a client back to the
      endpoint it had) → MINIK8S-SEP-<hash>: mark hairpin traffic (a pod reaching itself), DNAT.
      POSTROUTING → MINIK8S-POSTROUTING: MASQUERADE marked packets (MINIK8S-MARK-MASQ marks).
filter: OUTPUT, FORWARD → MINIK8S-SERVICES: REJECT a cluster IP:port without endpoints;
      INPUT, FORWARD → MINIK8S-EXTERNAL-SERVICES: the same for node ports;
      FORWARD → MINIK8S-FORWARD: accept marked and established service traffic;
      INPUT → MINIK8S-FIREWALL: drop non-loopback packets to 127/8 (route_localnet is on).

Chain names hash like Kubernetes': sha256 of `namespace/name:port` + protocol (+ endpoint for
SEP chains), base32, first 16 characters. The output is deterministic: service ports in
descending order of their SVC chain's name (Kubernetes' own order is a map's, i.e. random; the
rules of MINIK8S-SERVICES and MINIK8S-NODEPORTS match disjoint IP:port:protocol, so their order
does not matter to packets, and descending names keep iptables-nft's restore linear, see
`restore`); endpoints by address.

Like Kubernetes' "large cluster mode", above `RuleOptions.large_cluster_endpoints` endpoints in
all the per-service `-m comment` of SVC endpoint-selection rules and SEP rules are left out (the
"cluster IP" and "has no endpoints" comments stay): a quarter of the matches the kernel has to
set up at 5 000 services.
"""

from __future__ import annotations

import functools
import hashlib
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PREFIX = "MINIK8S-"
SERVICES = "MINIK8S-SERVICES"
EXTERNAL_SERVICES = "MINIK8S-EXTERNAL-SERVICES"
NODEPORTS = "MINIK8S-NODEPORTS"
POSTROUTING = "MINIK8S-POSTROUTING"
MARK_MASQ = "MINIK8S-MARK-MASQ"
FORWARD = "MINIK8S-FORWARD"
FIREWALL = "MINIK8S-FIREWALL"
SVC_PREFIX = "MINIK8S-SVC-"
SEP_PREFIX = "MINIK8S-SEP-"

TABLES = ("filter", "nat")
"""Tables we own chains in, in the order they are rendered."""

_NODEPORTS_COMMENT = "minik8s service nodeports; NOTE: this must be the last rule in this chain"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


LARGE_CLUSTER_ENDPOINTS = 1000
"""Kubernetes' `largeClusterEndpointsThreshold`."""


@dataclass(frozen=True)
class RuleOptions:
    cluster_cidr: str | None = None
    """Pod network: ClusterIP traffic from outside it is masqueraded (None: all of it)."""
    masquerade_mark: str = "0x4000"
    """Packet mark bit that asks MINIK8S-POSTROUTING to masquerade."""
    large_cluster_endpoints: int = LARGE_CLUSTER_ENDPOINTS
    """Above this many endpoints in all, per-endpoint comments are left out, as in Kubernetes."""


class Endpoint(NamedTuple):
    sort_key: tuple[int, int]
    """(address as an integer, port): endpoints are sorted by it."""
    ip: str
    port: int
    node_name: str | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, with its ready endpoints: what one SVC chain serves."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    """Lower case, as iptables spells it: tcp, udp, sctp."""
    cluster_ip: str
    port: int
    node_port: int | None
    affinity_seconds: int | None
    """`sessionAffinity: ClientIP` timeout; None without affinity."""
    endpoints: tuple[Endpoint, ...]

    @functools.cached_property
    def key(self) -> str:
        """Kubernetes' ServicePortName: `ns/name` or `ns/name:port`."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @functools.cached_property
    def svc_chain(self) -> str:
        return SVC_PREFIX + _hash(self.key + self.protocol)

    def sep_chain(self, endpoint: Endpoint) -> str:
        return SEP_PREFIX + _hash(f"{self.key}{self.protocol}{endpoint.ip}:{endpoint.port}")


_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)
"""Two base32 characters for each 10-bit value."""


@functools.lru_cache(maxsize=1 << 17)
def _hash(text: str) -> str:
    # the first 16 base32 characters of the digest encode its first 80 bits (what
    # base64.b32encode(digest[:10]) gives, in a quarter of the time)
    n = int.from_bytes(hashlib.sha256(text.encode()).digest()[:10], "big")
    p = _B32_PAIRS
    return (
        p[n >> 70]
        + p[(n >> 60) & 1023]
        + p[(n >> 50) & 1023]
        + p[(n >> 40) & 1023]
        + p[(n >> 30) & 1023]
        + p[(n >> 20) & 1023]
        + p[(n >> 10) & 1023]
        + p[n & 1023]
    )


@dataclass
class RuleSet:
    """table → chain → rules (each without its `-A <chain>`), in rendering order."""

    tables: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {table: {} for table in TABLES}
    )

    def chain(self, table: str, name: str) -> list[str]:
        return self.tables[table].setdefault(name, [])

    def rule_count(self, table: str | None = None) -> int:
        tables = [table] if table else list(self.tables)
        return sum(len(rules) for t in tables for rules in self.tables[t].values())


LEAVES = (MARK_MASQ, POSTROUTING, FORWARD, FIREWALL)
"""Our chains that jump to none of ours."""
TOP_LEVEL = 4


def chain_level(name: str) -> int:
    """Where a chain sits in the jump graph: every chain jumps only to chains of lower levels.

    0: leaves (MARK-MASQ, …); 1: SEP (→ MARK-MASQ); 2: SVC (→ SEP, MARK-MASQ); 3: NODEPORTS
    (→ SVC); 4: SERVICES, EXTERNAL-SERVICES and any other chain of ours. Written in ascending
    level and deleted in descending, every step of a staged sync only ever jumps to chains that
    exist and are complete.
    """
    if name in LEAVES:
        return 0
    if name.startswith(SEP_PREFIX):
        return 1
    if name.startswith(SVC_PREFIX):
        return 2
    if name == NODEPORTS:
        return 3
    return TOP_LEVEL


# --- reading the API objects ----------------------------------------------------------------


@dataclass
class Memo:
    """What earlier builds computed, reused for objects seen again: a speed-up only (the output
    is the same with or without it). Entries not used by the latest build are dropped."""

    ports: dict[tuple[str, str, str, str], list[ServicePort]] = field(default_factory=dict)
    """(namespace, name, Service resourceVersion, Endpoints resourceVersion) → its ports."""
    fragments: dict[ServicePort, RuleSet] = field(default_factory=dict)
    """Service port → the rules it adds."""
    large: bool = False
    """The large-cluster mode the fragments were built in."""


def service_ports(
    services: Iterable[dict[str, Any]],
    endpoints: Iterable[dict[str, Any]],
    memo: Memo | None = None,
) -> list[ServicePort]:
    """The service ports kube-proxy programs, sorted; headless and ExternalName are skipped."""
    by_key = {(_meta(e).get("namespace") or "", _meta(e).get("name") or ""): e for e in endpoints}
    result: list[ServicePort] = []
    seen: dict[tuple[str, str, str, str], list[ServicePort]] = {}
    for service in services:
        meta = _meta(service)
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        eps = by_key.get((namespace, name)) or {}
        version = meta.get("resourceVersion")
        key = (namespace, name, version or "", _meta(eps).get("resourceVersion") or "")
        ports = memo.ports.get(key) if memo is not None and version else None
        if ports is None:
            ports = _ports_of(service, eps)
        if version:
            seen[key] = ports
        result.extend(ports)
    if memo is not None:
        memo.ports = seen
    result.sort(key=lambda sp: (sp.namespace, sp.name, sp.port_name, sp.protocol, sp.port))
    return result


def _ports_of(service: dict[str, Any], eps: dict[str, Any]) -> list[ServicePort]:
    meta, spec = _meta(service), service.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if spec.get("type") == "ExternalName" or not _is_ip(cluster_ip):
        return []
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(config.get("timeoutSeconds") or 10800)
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    result = []
    for port in spec.get("ports") or []:
        protocol = (port.get("protocol") or "TCP").lower()
        node_port = port.get("nodePort") if node_ports else None
        result.append(
            ServicePort(
                namespace=namespace,
                name=name,
                port_name=port.get("name") or "",
                protocol=protocol,
                cluster_ip=cluster_ip,
                port=int(port["port"]),
                node_port=int(node_port) if node_port else None,
                affinity_seconds=affinity,
                endpoints=_endpoints_for(eps, port.get("name") or "", protocol),
            )
        )
    return result


def _endpoints_for(
    endpoints: dict[str, Any], port_name: str, protocol: str
) -> tuple[Endpoint, ...]:
    found: dict[tuple[int, int], Endpoint] = {}
    for subset in endpoints.get("subsets") or []:
        for port in subset.get("ports") or []:
            if (port.get("name") or "") != port_name:
                continue
            if (port.get("protocol") or "TCP").lower() != protocol:
                continue
            number = int(port["port"])
            for address in subset.get("addresses") or []:
                ip = address.get("ip") or ""
                try:
                    key = (int.from_bytes(socket.inet_pton(socket.AF_INET, ip)), number)
                except (OSError, TypeError):
                    continue
                if key not in found:
                    found[key] = Endpoint(key, ip, number, address.get("nodeName"))
    return tuple(found[key] for key in sorted(found))


def _endpoint(ip: str, port: int, node_name: str | None) -> Endpoint:
    return Endpoint((int.from_bytes(socket.inet_pton(socket.AF_INET, ip)), port), ip, port,
                    node_name)  # fmt: skip


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, TypeError):
        return False
    return True


# --- building the rules ---------------------------------------------------------------------


def build_rules(
    services: Iterable[dict[str, Any]],
    endpoints: Iterable[dict[str, Any]],
    node: str,
    options: RuleOptions | None = None,
    memo: Memo | None = None,
) -> RuleSet:
    """Every chain and rule we own, for these Services and Endpoints, on node `node`.

    Pass the same `memo` (and `options`) to successive builds to reuse unchanged services.
    """
    options = options or RuleOptions()
    rules = RuleSet()
    _static_chains(rules, options)
    ports = service_ports(services, endpoints, memo)
    ports.sort(key=lambda sp: sp.svc_chain, reverse=True)
    large = sum(len(sp.endpoints) for sp in ports) > options.large_cluster_endpoints
    known = memo.fragments if memo is not None and memo.large == large else {}
    fragments: dict[ServicePort, RuleSet] = {}
    for sp in ports:
        fragment = known.get(sp)
        if fragment is None:
            fragment = RuleSet()
            _service_port(fragment, sp, options, large)
        fragments[sp] = fragment
        for table, chains in fragment.tables.items():
            target = rules.tables[table]
            for chain, chain_rules in chains.items():
                if chain in target:
                    target[chain].extend(chain_rules)
                else:
                    target[chain] = list(chain_rules)
    if memo is not None:
        memo.fragments = fragments
        memo.large = large
    rules.chain("nat", SERVICES).append(
        f'-m comment --comment "{_NODEPORTS_COMMENT}" -m addrtype --dst-type LOCAL -j {NODEPORTS}'
    )
    return rules


def _static_chains(rules: RuleSet, options: RuleOptions) -> None:
    mark = f"{options.masquerade_mark}/{options.masquerade_mark}"
    for chain in (SERVICES, EXTERNAL_SERVICES, FORWARD, FIREWALL):
        rules.chain("filter", chain)
    rules.chain("filter", FORWARD).extend([
        f'-m comment --comment "minik8s forwarding rules" -m mark --mark {mark} -j ACCEPT',
        '-m comment --comment "minik8s forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ])  # fmt: skip
    rules.chain("filter", FIREWALL).append(
        '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
        'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP'
    )
    for chain in (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ):
        rules.chain("nat", chain)
    rules.chain("nat", POSTROUTING).extend([
        f"-m mark ! --mark {mark} -j RETURN",
        f"-j MARK --xor-mark {options.masquerade_mark}",
        '-m comment --comment "minik8s service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ])  # fmt: skip
    rules.chain("nat", MARK_MASQ).append(f"-j MARK --or-mark {options.masquerade_mark}")


def _service_port(rules: RuleSet, sp: ServicePort, options: RuleOptions, large: bool) -> None:
    proto = f"-p {sp.protocol}"
    dport = f"-m {sp.protocol} --dport"
    to_cluster_ip = f"-d {sp.cluster_ip}/32 {proto}"
    if not sp.endpoints:
        rules.chain("filter", SERVICES).append(
            f'{to_cluster_ip} -m comment --comment "{sp.key} has no endpoints" '
            f"{dport} {sp.port} -j REJECT --reject-with icmp-port-unreachable"
        )
        if sp.node_port:
            rules.chain("filter", EXTERNAL_SERVICES).append(
                f'-m comment --comment "{sp.key} has no endpoints" -m addrtype --dst-type LOCAL '
                f"{proto} {dport} {sp.node_port} -j REJECT --reject-with icmp-port-unreachable"
            )
        return

    svc = sp.svc_chain
    rules.chain("nat", SERVICES).append(
        f'{to_cluster_ip} -m comment --comment "{sp.key} cluster IP" {dport} {sp.port} -j {svc}'
    )
    if sp.node_port:
        nodeports = rules.chain("nat", NODEPORTS)
        nodeports.append(f"{proto} -m comment --comment {sp.key} {dport} {sp.node_port} "
                         f"-j {MARK_MASQ}")  # fmt: skip
        nodeports.append(f"{proto} -m comment --comment {sp.key} {dport} {sp.node_port} -j {svc}")

    chain = rules.chain("nat", svc)
    source = f"! -s {options.cluster_cidr} " if options.cluster_cidr else ""
    chain.append(
        f'{source}{to_cluster_ip} -m comment --comment "{sp.key} cluster IP" {dport} {sp.port} '
        f"-j {MARK_MASQ}"
    )
    seps = [(sp.sep_chain(ep), ep) for ep in sp.endpoints]
    # Kubernetes' appendServiceCommentLocked: no comment in large cluster mode
    comment = "" if large else f"-m comment --comment {sp.key} "
    if sp.affinity_seconds is not None:
        for sep, _ in seps:
            chain.append(
                f"{comment}-m recent --name {sep} --mask 255.255.255.255 "
                f"--rsource --rcheck --seconds {sp.affinity_seconds} --reap -j {sep}"
            )
    n = len(seps)
    for i, (sep, _) in enumerate(seps):
        if i < n - 1:
            chain.append(
                f"{comment}-m statistic --mode random --probability {probability(n - i)} -j {sep}"
            )
        else:
            chain.append(f"{comment}-j {sep}")

    nat = rules.tables["nat"]
    for sep, ep in seps:
        recent = (
            f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set "
            if sp.affinity_seconds is not None
            else ""
        )
        nat[sep] = [
            f"-s {ep.ip}/32 {comment}-j {MARK_MASQ}",
            f"{proto} {comment}{recent}-m {sp.protocol} -j DNAT --to-destination {ep.address}",
        ]


def probability(remaining: int) -> str:
    """The chance the next of `remaining` endpoints is picked: 1/remaining, as Kubernetes writes
    it; picking in turn with 1/n, 1/(n-1), …, 1 gives every endpoint 1/n."""
    return f"{1.0 / remaining:0.10f}"


# --- rendering --------------------------------------------------------------------------------


def render(rules: RuleSet) -> str:
    """The complete `iptables-restore --noflush` input: declaring a chain flushes it."""
    lines: list[str] = []
    for table in TABLES:
        chains = rules.tables[table]
        lines.append(f"*{table}")
        lines.extend(f":{chain} - [0:0]" for chain in chains)
        for chain, chain_rules in chains.items():
            lines.extend(f"-A {chain} {rule}" for rule in chain_rules)
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_rules(
    services: Iterable[dict[str, Any]],
    endpoints: Iterable[dict[str, Any]],
    node: str,
    options: RuleOptions | None = None,
) -> str:
    """`build_rules` rendered as one `iptables-restore` input."""
    return render(build_rules(services, endpoints, node, options))


# --- jumps from the built-in chains --------------------------------------------------------

JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nat", "PREROUTING",
     ("-m", "comment", "--comment", "minik8s service portals", "-j", SERVICES)),
    ("nat", "OUTPUT", ("-m", "comment", "--comment", "minik8s service portals", "-j", SERVICES)),
    ("nat", "POSTROUTING",
     ("-m", "comment", "--comment", "minik8s postrouting rules", "-j", POSTROUTING)),
    ("filter", "INPUT",
     ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
      "minik8s externally-visible service portals", "-j", EXTERNAL_SERVICES)),
    ("filter", "INPUT", ("-m", "comment", "--comment", "minik8s firewall", "-j", FIREWALL)),
    ("filter", "FORWARD",
     ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
      "minik8s service portals", "-j", SERVICES)),
    ("filter", "FORWARD",
     ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
      "minik8s externally-visible service portals", "-j", EXTERNAL_SERVICES)),
    ("filter", "FORWARD",
     ("-m", "comment", "--comment", "minik8s forwarding rules", "-j", FORWARD)),
    ("filter", "OUTPUT",
     ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
      "minik8s service portals", "-j", SERVICES)),
)  # fmt: skip
"""(table, built-in chain, rule) that hang our chains in; each is inserted first, once."""

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}
"""Built-in chains cleanup searches for jumps to our chains."""
