"""Pure rule rendering: Services + EndpointSlices → the `iptables-restore` input of our own chains.

The layout follows Kubernetes' iptables mode, with our `MINIK8S-` prefix:

nat:  PREROUTING, OUTPUT → MINIK8S-SERVICES → (cluster IP:port) MINIK8S-SVC-<hash>
                          └→ (last rule, local destination) MINIK8S-NODEPORTS → MINIK8S-SVC-<hash>
      MINIK8S-SVC-<hash>: mark for masquerade traffic from outside the pod network, then pick
      an endpoint with `-m statistic --mode random --probability 1/n, 1/(n-1), …, (last: always)`
      (with `sessionAffinity: ClientIP`, a `-m recent` check first sends a client back to the
      endpoint it had) → MINIK8S-SEP-<hash>: mark hairpin traffic (a pod reaching itself), DNAT.
      POSTROUTING → MINIK8S-POSTROUTING: MASQUERADE marked packets (MINIK8S-MARK-MASQ marks).
      External traffic (node ports, LoadBalancer ingress IPs) goes through MINIK8S-EXT-<hash>
      first: with `externalTrafficPolicy: Cluster` it is masqueraded and sent to the SVC chain;
      with `Local`, traffic from pods and from the node itself still goes to the SVC chain, the
      rest only to MINIK8S-SVL-<hash> (the local endpoints), keeping its client address. An
      ingress IP with `loadBalancerSourceRanges` goes through MINIK8S-FW-<hash>, which sends
      the allowed sources on to the EXT chain; what it does not DNAT is dropped in the filter
      table (MINIK8S-PROXY-FIREWALL), as Kubernetes' KUBE-FW/KUBE-PROXY-FIREWALL do.
filter: OUTPUT, FORWARD → MINIK8S-SERVICES: REJECT a cluster IP:port without endpoints;
      INPUT, FORWARD → MINIK8S-EXTERNAL-SERVICES: the same for node ports and ingress IPs (DROP
      when only local endpoints count and there is none);
      INPUT, OUTPUT, FORWARD → MINIK8S-PROXY-FIREWALL: drop what the source ranges refused;
      INPUT → MINIK8S-NODEPORTS: accept health check node ports (served by kube-proxy);
      FORWARD → MINIK8S-FORWARD: accept marked and established service traffic;
      INPUT → MINIK8S-FIREWALL: drop non-loopback packets to 127/8 (route_localnet is on);
      INPUT, FORWARD → MINIK8S-POD-FIREWALL: pods reach neither their node nor the nodes'
      network, except the cluster's own services through their Service (`podfirewall`).
NodePorts answer on every local address, or with `--nodeport-addresses` only on the local
addresses in those CIDRs (`-d <address>/32` jumps to MINIK8S-NODEPORTS instead of `addrtype`).

Chain names hash like Kubernetes': sha256 of `namespace/name:port` + protocol (+ endpoint for
SEP chains), base32, first 16 characters. The output is deterministic: service ports in
descending order of their SVC chain's name (Kubernetes' own order is a map's, i.e. random; the
rules of MINIK8S-SERVICES and MINIK8S-NODEPORTS match disjoint IP:port:protocol, so their order
does not matter to packets, and descending names keep iptables-nft's restore linear, see
`restore`); endpoints by address.

Like Kubernetes' "large cluster mode", above `RuleOptions.large_cluster_endpoints` endpoints in
all the per-service `-m comment` of SVC endpoint-selection rules and SEP rules are left out (the
"cluster IP" and "has no endpoints" comments stay): a quarter of the matches the kernel has to
set up at 5 000 services. SEP chains' DNAT rules leave out the `-m tcp` (`-m udp`, …) Kubernetes
writes there: without options that xt match passes every packet of the protocol `-p` already
matches (the nat table never sees fragments: conntrack reassembles them first), and it cost
iptables-nft and the kernel ~5-8 µs per rule (0.2 s of CPU at 5 000 services).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from minik8s.api import endpointslices, serviceutil
from minik8s.proxy import podfirewall
from minik8s.proxy.podfirewall import POD_FIREWALL

PREFIX = "MINIK8S-"
SERVICES = "MINIK8S-SERVICES"
EXTERNAL_SERVICES = "MINIK8S-EXTERNAL-SERVICES"
NODEPORTS = "MINIK8S-NODEPORTS"
POSTROUTING = "MINIK8S-POSTROUTING"
MARK_MASQ = "MINIK8S-MARK-MASQ"
FORWARD = "MINIK8S-FORWARD"
FIREWALL = "MINIK8S-FIREWALL"
PROXY_FIREWALL = "MINIK8S-PROXY-FIREWALL"
SVC_PREFIX = "MINIK8S-SVC-"
SEP_PREFIX = "MINIK8S-SEP-"
SVL_PREFIX = "MINIK8S-SVL-"
EXT_PREFIX = "MINIK8S-EXT-"
FW_PREFIX = "MINIK8S-FW-"

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
    forbidden_pod_destinations: tuple[str, ...] = ()
    """CIDRs pods may not reach (the nodes' network) but through a cluster Service."""
    node_port_addresses: tuple[str, ...] | None = None
    """The local addresses NodePorts answer on (`--nodeport-addresses`, resolved); None: every
    local address (`-m addrtype --dst-type LOCAL`)."""
    node_name: str = ""
    """This node: with `externalTrafficPolicy: Local` only its endpoints take external
    traffic."""
    accept_mark: str = "0x2000"
    """Packet mark bit with which MINIK8S-SVL chains ask MINIK8S-FORWARD to accept external
    traffic they send to a local endpoint without masquerading it (a host's FORWARD policy,
    Docker's DROP for one, would drop it otherwise)."""


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
    """Where its cluster traffic goes: the ready endpoints, or when none is ready the serving
    terminating ones (Kubernetes' ProxyTerminatingEndpoints)."""
    load_balancer_ips: tuple[str, ...] = ()
    """`status.loadBalancer.ingress` IPs in VIP mode."""
    source_ranges: tuple[str, ...] = ()
    """`loadBalancerSourceRanges`: only these clients may use the ingress IPs."""
    external_local: bool = False
    """`externalTrafficPolicy: Local`: external traffic goes to this node's endpoints only."""
    health_check_node_port: int | None = None
    """Where kube-proxy answers whether this node has endpoints (Local policy only)."""
    terminating: tuple[Endpoint, ...] = ()
    """With `external_local` only: the serving terminating endpoints. This node's take its
    external traffic when it has no ready one, even while others are ready elsewhere."""
    key: str = field(init=False, compare=False, repr=False)
    """Kubernetes' ServicePortName: `ns/name` or `ns/name:port`."""
    svc_chain: str = field(init=False, compare=False, repr=False)
    _hash_value: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # set once, as plain attributes: every one is read, most of them several times
        base = f"{self.namespace}/{self.name}"
        key = f"{base}:{self.port_name}" if self.port_name else base
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "svc_chain", SVC_PREFIX + _hash(key + self.protocol))
        object.__setattr__(self, "_hash_value", hash((
            self.namespace, self.name, self.port_name, self.protocol, self.cluster_ip, self.port,
            self.node_port, self.affinity_seconds, self.endpoints, self.load_balancer_ips,
            self.source_ranges, self.external_local, self.health_check_node_port,
            self.terminating,
        )))  # fmt: skip

    def __hash__(self) -> int:
        return self._hash_value

    def sep_chain(self, endpoint: Endpoint) -> str:
        return SEP_PREFIX + _hash(f"{self.key}{self.protocol}{endpoint.ip}:{endpoint.port}")

    @property
    def ext_chain(self) -> str:
        """Where its external traffic goes first (the SVC chain's hash, as in Kubernetes)."""
        return EXT_PREFIX + self.svc_chain[len(SVC_PREFIX) :]

    @property
    def svl_chain(self) -> str:
        """Its local endpoints (`externalTrafficPolicy: Local`)."""
        return SVL_PREFIX + self.svc_chain[len(SVC_PREFIX) :]

    @property
    def fw_chain(self) -> str:
        """The source ranges' check of its ingress IPs."""
        return FW_PREFIX + self.svc_chain[len(SVC_PREFIX) :]

    @property
    def external(self) -> bool:
        """Reachable from outside: a node port or an ingress IP."""
        return bool(self.node_port or self.load_balancer_ips)


_B32_PAIRS = tuple(a + b for a in _B32 for b in _B32)
"""Two base32 characters for each 10-bit value."""


@functools.lru_cache(maxsize=1 << 17)
def _hash(text: str) -> str:
    # the first 16 base32 characters of the digest encode its first 80 bits (what
    # base64.b32encode(digest[:10]) gives, in a fifth of the time)
    n = int.from_bytes(hashlib.sha256(text.encode()).digest()[:10], "big")
    high, low, p = n >> 40, n & 0xFFFFFFFFFF, _B32_PAIRS
    return (
        f"{p[high >> 30]}{p[(high >> 20) & 1023]}{p[(high >> 10) & 1023]}{p[high & 1023]}"
        f"{p[low >> 30]}{p[(low >> 20) & 1023]}{p[(low >> 10) & 1023]}{p[low & 1023]}"
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
        return sum(sum(map(len, self.tables[t].values())) for t in tables)


LEAVES = (MARK_MASQ, POSTROUTING, FORWARD, FIREWALL, PROXY_FIREWALL, POD_FIREWALL)
"""Our chains that jump to none of ours."""
TOP_LEVEL = 5


def chain_level(name: str) -> int:
    """Where a chain sits in the jump graph: every chain jumps only to chains of lower levels.

    0: leaves (MARK-MASQ, …); 1: SEP (→ MARK-MASQ); 2: SVC, SVL (→ SEP, MARK-MASQ); 3: EXT
    (→ SVC, SVL); 4: FW (→ EXT), NODEPORTS (→ EXT, SVC); 5: SERVICES, EXTERNAL-SERVICES and
    any other chain of ours. Written in ascending level and deleted in descending, every step
    of a staged sync only ever jumps to chains that exist and are complete.
    """
    level = _PREFIX_LEVELS.get(name[: len(SEP_PREFIX)])
    if level is not None:
        return level
    if name in LEAVES:
        return 0
    if name == NODEPORTS or name.startswith(FW_PREFIX):
        return 4
    return TOP_LEVEL


_PREFIX_LEVELS = {SEP_PREFIX: 1, SVC_PREFIX: 2, SVL_PREFIX: 2, EXT_PREFIX: 3}
assert len({len(prefix) for prefix in _PREFIX_LEVELS}) == 1


# --- reading the API objects ----------------------------------------------------------------


class Fragment(NamedTuple):
    """The rules one service port adds."""

    shared: list[tuple[str, str, str]]
    """(table, chain, rule) appended to chains all service ports share (SERVICES, …)."""
    own: list[tuple[str, tuple[str, ...]]]
    """Its own nat chains and their rules: the SVC chain, then the SEP chains it jumps to."""


@dataclass
class Memo:
    """What earlier builds computed, reused for objects seen again: a speed-up only (the output
    is the same with or without it). Entries not used by the latest build are dropped."""

    ports: dict[tuple[str, str, str, str], list[ServicePort]] = field(default_factory=dict)
    """(namespace, name, Service resourceVersion, its slices' resourceVersions) → its ports."""
    fragments: dict[ServicePort, Fragment] = field(default_factory=dict)
    """Service port → the rules it adds."""
    large: bool = False
    """The large-cluster mode the fragments were built in."""


def _port_order(sp: ServicePort) -> tuple[str, str, str, str, int]:
    return (sp.namespace, sp.name, sp.port_name, sp.protocol, sp.port)


class _Reader:
    """Reads the service ports one Service at a time, reusing the memo's."""

    def __init__(
        self,
        services: Iterable[dict[str, Any]],
        slices: Iterable[dict[str, Any]],
        memo: Memo | None,
    ) -> None:
        self._services = iter(services)
        self._by_key = endpointslices.by_service(slices)
        self._memo = memo
        self._seen: dict[tuple[str, str, str, str], list[ServicePort]] = {}
        self.ports: list[ServicePort] = []
        """Read so far, in the order of the Services."""
        self.endpoints = 0
        """Their endpoints."""

    def read(self) -> bool:
        """Read the next Service's ports; False when there is none left."""
        service = next(self._services, None)
        if service is None:
            return False
        meta = _meta(service)
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        found = self._by_key.get((namespace, name)) or []
        version = meta.get("resourceVersion")
        versions = (
            _meta(found[0]).get("resourceVersion") or ""
            if len(found) == 1
            else ",".join(sorted(_meta(s).get("resourceVersion") or "" for s in found))
        )
        key = (namespace, name, version or "", versions)
        ports = self._memo.ports.get(key) if self._memo is not None and version else None
        if ports is None:
            ports = _ports_of(service, found)
        if version:
            self._seen[key] = ports
        self.ports.extend(ports)
        self.endpoints += sum(len(sp.endpoints) for sp in ports)
        return True

    def done(self) -> None:
        """Every Service was read: the memo keeps the ports of these only."""
        if self._memo is not None:
            self._memo.ports = self._seen


def _ports_of(service: dict[str, Any], slices: list[Mapping[str, Any]]) -> list[ServicePort]:
    meta, spec = _meta(service), service.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if spec.get("type") == "ExternalName" or not _is_ip(cluster_ip):
        return []
    namespace, name = meta.get("namespace") or "", meta.get("name") or ""
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(config.get("timeoutSeconds") or 10800)
    node_ports = serviceutil.externally_accessible(spec)
    external: dict[str, Any] = {}
    if node_ports:
        external = _external_fields(service, spec)
    result = []
    for port in spec.get("ports") or []:
        protocol = (port.get("protocol") or "TCP").lower()
        node_port = port.get("nodePort") if node_ports else None
        ready, terminating = _endpoints_for(slices, port.get("name") or "", protocol)
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
                endpoints=ready or terminating,
                terminating=terminating if ready and external.get("external_local") else (),
                **external,
            )
        )
    return result


def _external_fields(service: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The ServicePort fields of a NodePort or LoadBalancer Service's external traffic."""
    fields: dict[str, Any] = {"external_local": serviceutil.external_policy_local(spec)}
    if spec.get("type") != "LoadBalancer":
        return fields
    fields["load_balancer_ips"] = tuple(
        ip for ip in serviceutil.load_balancer_ips(service) if _is_ip(ip)
    )
    ranges = []
    for text in serviceutil.source_range_texts(service):
        try:  # the apiserver validates them; like kube-proxy, drop one that does not parse
            ranges.append(str(ipaddress.IPv4Network(text, strict=False)))
        except ValueError:
            continue
    fields["source_ranges"] = tuple(ranges)
    port = spec.get("healthCheckNodePort")
    if serviceutil.needs_health_check(spec) and isinstance(port, int) and port > 0:
        fields["health_check_node_port"] = port
    return fields


def _endpoints_for(
    slices: list[Mapping[str, Any]], port_name: str, protocol: str
) -> tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]:
    """The service port's endpoints in its slices: (ready, serving and terminating), each
    sorted, an address once (kube-proxy takes each endpoint's first address)."""
    ready: dict[tuple[int, int], Endpoint] = {}
    terminating: dict[tuple[int, int], Endpoint] = {}
    for slice_ in slices:
        number = endpointslices.port_number(slice_, port_name, protocol)
        if number is None:
            continue
        for endpoint in slice_.get("endpoints") or ():
            conditions = endpointslices.conditions(endpoint)
            if conditions.ready:
                found = ready
            elif conditions.serving and conditions.terminating:
                found = terminating
            else:
                continue
            addresses = endpoint.get("addresses") or ()
            ip = addresses[0] if addresses else ""
            try:
                key = (int.from_bytes(socket.inet_pton(socket.AF_INET, ip)), number)
            except (OSError, TypeError):
                continue
            if key not in found:
                found[key] = Endpoint(key, ip, number, endpoint.get("nodeName"))
    return tuple(sorted(ready.values())), tuple(sorted(terminating.values()))


def _endpoint(ip: str, port: int, node_name: str | None) -> Endpoint:
    return Endpoint((int.from_bytes(socket.inet_pton(socket.AF_INET, ip)), port), ip, port,
                    node_name)  # fmt: skip


def _local(endpoints: Iterable[Endpoint], options: RuleOptions) -> list[Endpoint]:
    return [ep for ep in endpoints if ep.node_name == options.node_name]


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
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
    slices: Iterable[dict[str, Any]],
    node: str,
    options: RuleOptions | None = None,
    memo: Memo | None = None,
) -> RuleSet:
    """Every chain and rule we own, for these Services and EndpointSlices, on node `node`.

    Pass the same `memo` (and `options`) to successive builds to reuse unchanged services.
    """
    return Builder(services, slices, options, memo).finish()


def chains_estimate(services: Sequence[dict[str, Any]], slices: Iterable[dict[str, Any]]) -> int:
    """About how many service chains `build_rules` gives, without reading the objects through:
    one per Service and per endpoint and port of the EndpointSlices."""
    return len(services) + sum(
        len(s.get("endpoints") or ()) * len(s.get("ports") or ()) for s in slices
    )


class Builder:
    """`build_rules` in parts, so that a large sync can apply the first service chains while
    the others are still being rendered: the static chains (in `rules` from the start), the
    service ports' own chains (SVC, SEP) one port at a time (`groups`), then the whole rule
    set. Services are read as far as needed only: large cluster mode is known once more
    endpoints than its threshold are read."""

    def __init__(
        self,
        services: Iterable[dict[str, Any]],
        slices: Iterable[dict[str, Any]],
        options: RuleOptions | None = None,
        memo: Memo | None = None,
    ) -> None:
        self.options = options or RuleOptions()
        self.rules = RuleSet()
        _static_chains(self.rules, self.options)
        self._reader = _Reader(services, slices, memo)
        self._memo = memo
        self._fragments: dict[ServicePort, Fragment] = {}
        self._built = 0
        """Ports of the reader whose fragments are built."""

    @functools.cached_property
    def large(self) -> bool:
        """Kubernetes' large cluster mode: more endpoints in all than the threshold."""
        threshold, reader = self.options.large_cluster_endpoints, self._reader
        while reader.endpoints <= threshold and reader.read():
            pass
        return reader.endpoints > threshold

    @functools.cached_property
    def _known(self) -> dict[ServicePort, Fragment]:
        memo = self._memo
        return memo.fragments if memo is not None and memo.large == self.large else {}

    def _fragment(self, sp: ServicePort) -> Fragment:
        fragment = self._fragments.get(sp) or self._known.get(sp)
        if fragment is None:
            fragment = _fragment(sp, self.options, self.large)
        self._fragments[sp] = fragment
        return fragment

    def groups(self) -> Iterator[list[tuple[str, tuple[str, ...]]]]:
        """The nat chains of the service ports, built as the Services are read: for each port
        with endpoints, its SVC chain, then the SEP chains it jumps to."""
        reader = self._reader
        assert self._known is not None  # the Services large cluster mode needs are read first
        while self._built < len(reader.ports) or reader.read():
            while self._built < len(reader.ports):
                sp = reader.ports[self._built]
                self._built += 1
                own = self._fragment(sp).own
                if own:
                    yield own

    def finish(self) -> RuleSet:
        """The whole rule set: service ports in descending order of their SVC chain's name."""
        nat = self.rules.tables["nat"]
        for chain, chain_rules in self._assemble():
            nat[chain] = list(chain_rules)
        return self.rules

    def finish_chains(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """`restore.flatten(self.finish())`, without copying the service ports' own chains:
        each is its memoised fragment's tuple, the very object the previous build gave for a
        port that did not change. A sync compares the chains it applied with these by identity
        first, so that its cost, like kube-proxy's partial syncs since Kubernetes 1.28, follows
        the changed Services rather than all of them."""
        own = self._assemble()
        flat = {
            (table, chain): tuple(chain_rules)
            for table, chains in self.rules.tables.items()
            for chain, chain_rules in chains.items()
        }
        flat.update((("nat", chain), chain_rules) for chain, chain_rules in own)
        return flat

    def _assemble(self) -> list[tuple[str, tuple[str, ...]]]:
        """Append every port's rules to the shared chains; returns the ports' own chains (in
        `finish`'s order), to be added to the nat table."""
        reader = self._reader
        while reader.read():
            pass
        reader.done()
        ports = sorted(reader.ports, key=_port_order)
        ports.sort(key=lambda sp: sp.svc_chain, reverse=True)
        tables, nat = self.rules.tables, self.rules.tables["nat"]
        own: list[tuple[str, tuple[str, ...]]] = []
        for sp in ports:
            fragment = self._fragment(sp)
            for table, chain, rule in fragment.shared:
                tables[table][chain].append(rule)
            own.extend(fragment.own)
        nat[SERVICES].extend(nodeports_jumps(self.options.node_port_addresses))
        tables["filter"][POD_FIREWALL] = podfirewall.firewall_rules(ports, self.options)
        if self._memo is not None:
            self._memo.fragments = {sp: self._fragments[sp] for sp in ports}
            self._memo.large = self.large
        return own


def nodeports_jumps(addresses: tuple[str, ...] | None) -> list[str]:
    """The last rules of MINIK8S-SERVICES: to MINIK8S-NODEPORTS for any local destination, or
    only for the `--nodeport-addresses` ones, as kube-proxy writes them."""
    comment = f'-m comment --comment "{_NODEPORTS_COMMENT}"'
    if addresses is None:
        return [f"{comment} -m addrtype --dst-type LOCAL -j {NODEPORTS}"]
    return [f"{comment} -d {address}/32 -j {NODEPORTS}" for address in addresses]


FIREWALL_RULES = (
    '! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
    'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
)
"""MINIK8S-FIREWALL: with route_localnet on, only loopback sources (or DNATed node ports) may
reach 127.0.0.0/8; installed before the sysctl is set."""


def _static_chains(rules: RuleSet, options: RuleOptions) -> None:
    mark = f"{options.masquerade_mark}/{options.masquerade_mark}"
    accept = f"{options.accept_mark}/{options.accept_mark}"
    static = (SERVICES, EXTERNAL_SERVICES, NODEPORTS, PROXY_FIREWALL, FORWARD, FIREWALL)
    for chain in (*static, POD_FIREWALL):
        rules.chain("filter", chain)
    rules.chain("filter", FORWARD).extend([
        f'-m comment --comment "minik8s forwarding rules" -m mark --mark {mark} -j ACCEPT',
        '-m comment --comment "minik8s forwarding rules for local endpoints" '
        f"-m mark --mark {accept} -j ACCEPT",
        '-m comment --comment "minik8s forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ])  # fmt: skip
    rules.chain("filter", FIREWALL).extend(FIREWALL_RULES)
    for chain in (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ):
        rules.chain("nat", chain)
    rules.chain("nat", POSTROUTING).extend([
        f"-m mark ! --mark {mark} -j RETURN",
        f"-j MARK --xor-mark {options.masquerade_mark}",
        '-m comment --comment "minik8s service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ])  # fmt: skip
    rules.chain("nat", MARK_MASQ).append(f"-j MARK --or-mark {options.masquerade_mark}")


def _fragment(sp: ServicePort, options: RuleOptions, large: bool) -> Fragment:
    proto = f"-p {sp.protocol}"
    dport = f"-m {sp.protocol} --dport"
    to_cluster_ip = f"-d {sp.cluster_ip}/32 {proto}"
    if not sp.endpoints:
        shared = [(
            "filter", SERVICES,
            f'{to_cluster_ip} -m comment --comment "{sp.key} has no endpoints" '
            f"{dport} {sp.port} -j REJECT --reject-with icmp-port-unreachable",
        )]  # fmt: skip
        if sp.external:
            _external_filters(shared, sp, "has no endpoints", REJECT)
        return Fragment(shared, [])

    svc = sp.svc_chain
    cluster_ip = f'{to_cluster_ip} -m comment --comment "{sp.key} cluster IP" {dport} {sp.port}'
    shared = [("nat", SERVICES, f"{cluster_ip} -j {svc}")]
    source = f"! -s {options.cluster_cidr} " if options.cluster_cidr else ""
    chain = [f"{source}{cluster_ip} -j {MARK_MASQ}"]
    seps = [sp.sep_chain(ep) for ep in sp.endpoints]
    # Kubernetes' appendServiceCommentLocked: no comment in large cluster mode
    comment = "" if large else f"-m comment --comment {sp.key} "
    _select(chain, seps, comment, sp.affinity_seconds)
    own = [(svc, tuple(chain))]

    # no `-m tcp` before DNAT, unlike Kubernetes: see the module's docstring
    dnat = f"{proto} {comment}-j DNAT --to-destination "
    reachable = list(zip(seps, sp.endpoints, strict=True))
    if sp.external_local and not any(ep.node_name == options.node_name for ep in sp.endpoints):
        reachable += [(sp.sep_chain(ep), ep) for ep in _local(sp.terminating, options)]
    for sep, ep in reachable:
        if sp.affinity_seconds is not None:
            recent = f"-m recent --name {sep} --mask 255.255.255.255 --rsource --set "
            to = f"{proto} {comment}{recent}-j DNAT --to-destination {ep.address}"
        else:
            to = f"{dnat}{ep.ip}:{ep.port}"
        own.append((sep, (f"-s {ep.ip}/32 {comment}-j {MARK_MASQ}", to)))
    if sp.external:
        _external(sp, options, shared, own, reachable, comment)
    return Fragment(shared, own)


REJECT = "REJECT --reject-with icmp-port-unreachable"


def _select(chain: list[str], seps: list[str], comment: str, affinity: int | None) -> None:
    """Rules picking one of `seps`: a client's earlier pick first (with affinity), then each in
    turn with 1/n, 1/(n-1), …, the last one always."""
    if affinity is not None:
        chain.extend(
            f"{comment}-m recent --name {sep} --mask 255.255.255.255 "
            f"--rsource --rcheck --seconds {affinity} --reap -j {sep}"
            for sep in seps
        )
    n = len(seps)
    chain.extend(
        f"{comment}-m statistic --mode random --probability {probability(n - i)} -j {sep}"
        for i, sep in enumerate(seps[:-1])
    )
    chain.append(f"{comment}-j {seps[-1]}")


def _external_filters(
    shared: list[tuple[str, str, str]], sp: ServicePort, why: str, target: str
) -> None:
    """Filter rules for external traffic that no endpoint takes (REJECT without endpoints,
    DROP when only local ones count), and the health check node port's ACCEPT."""
    proto, dport = f"-p {sp.protocol}", f"-m {sp.protocol} --dport"
    comment = f'-m comment --comment "{sp.key} {why}"'
    if target:
        for ip in sp.load_balancer_ips:
            rule = f"-d {ip}/32 {proto} {comment} {dport} {sp.port} -j {target}"
            shared.append(("filter", EXTERNAL_SERVICES, rule))
        if sp.node_port:
            shared.append(("filter", EXTERNAL_SERVICES,
                           f"{comment} -m addrtype --dst-type LOCAL {proto} {dport} {sp.node_port} "
                           f"-j {target}"))  # fmt: skip
    if sp.health_check_node_port:
        shared.append(("filter", NODEPORTS,
                       f'-m comment --comment "{sp.key} health check node port" -p tcp -m tcp '
                       f"--dport {sp.health_check_node_port} -j ACCEPT"))  # fmt: skip


def _external(
    sp: ServicePort,
    options: RuleOptions,
    shared: list[tuple[str, str, str]],
    own: list[tuple[str, tuple[str, ...]]],
    reachable: list[tuple[str, Endpoint]],
    comment: str,
) -> None:
    """Node port and ingress IP rules of a service port with endpoints: Kubernetes' EXT, FW
    and SVL chains. `reachable`: the SEP chains written and their endpoints (this node's
    serving terminating ones after the cluster's, when it has no other)."""
    proto, dport = f"-p {sp.protocol}", f"-m {sp.protocol} --dport"
    svc, ext = sp.svc_chain, sp.ext_chain
    if sp.external_local:
        local = [sep for sep, ep in reachable if ep.node_name == options.node_name]
    else:
        local = [sep for sep, _ in reachable]
    firewall = bool(sp.source_ranges and sp.load_balancer_ips)
    target = sp.fw_chain if firewall else ext
    for ip in sp.load_balancer_ips:
        shared.append(("nat", SERVICES, f'-d {ip}/32 {proto} -m comment --comment '
                       f'"{sp.key} loadbalancer IP" {dport} {sp.port} -j {target}'))  # fmt: skip
        if firewall:
            shared.append(("filter", PROXY_FIREWALL, f'-d {ip}/32 {proto} -m comment --comment '
                           f'"{sp.key} traffic not accepted by {sp.fw_chain}" {dport} {sp.port} '
                           "-j DROP"))  # fmt: skip
    if sp.node_port:
        rule = f"{proto} -m comment --comment {sp.key} {dport} {sp.node_port} -j {ext}"
        shared.append(("nat", NODEPORTS, rule))
    _external_filters(shared, sp, "has no local endpoints", "" if local else "DROP")

    for_key = f"for {sp.key} external destinations"
    if not sp.external_local:
        ext_rules = [f'-m comment --comment "masquerade traffic {for_key}" -j {MARK_MASQ}',
                     f"-j {svc}"]  # fmt: skip
    else:
        ext_rules = []
        if options.cluster_cidr:  # pods reach it as if from outside and back: any endpoint
            ext_rules.append(f'-s {options.cluster_cidr} -m comment --comment "pod traffic '
                             f'{for_key}" -j {svc}')  # fmt: skip
        ext_rules += [
            f'-m comment --comment "masquerade LOCAL traffic {for_key}" '
            f"-m addrtype --src-type LOCAL -j {MARK_MASQ}",
            f'-m comment --comment "route LOCAL traffic {for_key}" '
            f"-m addrtype --src-type LOCAL -j {svc}",
        ]
        if local:
            ext_rules.append(f"-j {sp.svl_chain}")
            accept = f"-j MARK --or-mark {options.accept_mark}"
            svl = [f'-m comment --comment "accept {sp.key} traffic to local endpoints" {accept}']
            _select(svl, local, comment, sp.affinity_seconds)
            own.append((sp.svl_chain, tuple(svl)))
    own.append((ext, tuple(ext_rules)))
    if firewall:
        allowed = f'-m comment --comment "{sp.key} loadbalancer IP"'
        fw = [f"{allowed} -s {cidr} -j {ext}" for cidr in sp.source_ranges]
        fw.append(f'-m comment --comment "other traffic to {sp.key} will be dropped by '
                  f'{PROXY_FIREWALL}"')  # fmt: skip
        own.append((sp.fw_chain, tuple(fw)))


@functools.lru_cache(maxsize=256)
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
    slices: Iterable[dict[str, Any]],
    node: str,
    options: RuleOptions | None = None,
) -> str:
    """`build_rules` rendered as one `iptables-restore` input."""
    return render(build_rules(services, slices, node, options))


# --- jumps from the built-in chains --------------------------------------------------------


def _jump(
    table: str, chain: str, comment: str, target: str, new_only: bool = False
) -> tuple[str, str, tuple[str, ...]]:
    """A jump from a built-in chain to ours (`new_only`: new connections only)."""
    match = ("-m", "conntrack", "--ctstate", "NEW") if new_only else ()
    return table, chain, (*match, "-m", "comment", "--comment", comment, "-j", target)


_PORTALS = "minik8s service portals"
_EXTERNAL = "minik8s externally-visible service portals"
_LB_FIREWALL = "minik8s load balancer firewall"
_POD_FIREWALL = "minik8s pod firewall"

JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    _jump("nat", "PREROUTING", _PORTALS, SERVICES),
    _jump("nat", "OUTPUT", _PORTALS, SERVICES),
    _jump("nat", "POSTROUTING", "minik8s postrouting rules", POSTROUTING),
    _jump("filter", "INPUT", _EXTERNAL, EXTERNAL_SERVICES, new_only=True),
    _jump("filter", "INPUT", "minik8s firewall", FIREWALL),
    _jump("filter", "INPUT", "minik8s health check service ports", NODEPORTS),
    _jump("filter", "INPUT", _LB_FIREWALL, PROXY_FIREWALL, new_only=True),
    _jump("filter", "FORWARD", _LB_FIREWALL, PROXY_FIREWALL, new_only=True),
    _jump("filter", "OUTPUT", _LB_FIREWALL, PROXY_FIREWALL, new_only=True),
    _jump("filter", "FORWARD", _PORTALS, SERVICES, new_only=True),
    _jump("filter", "FORWARD", _EXTERNAL, EXTERNAL_SERVICES, new_only=True),
    _jump("filter", "FORWARD", "minik8s forwarding rules", FORWARD),
    _jump("filter", "OUTPUT", _PORTALS, SERVICES, new_only=True),
    # last: inserted last, so first in their chains
    _jump("filter", "INPUT", _POD_FIREWALL, POD_FIREWALL),
    _jump("filter", "FORWARD", _POD_FIREWALL, POD_FIREWALL),
)
"""(table, built-in chain, rule) that hang our chains in; each is inserted first, once, in
this order (so the last ones end up first)."""

DOCKER_USER = "DOCKER-USER"
DOCKER_JUMPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("filter", DOCKER_USER,
     ("-m", "comment", "--comment", "minik8s pod firewall", "-j", POD_FIREWALL)),
)  # fmt: skip
"""Where dockerd runs (pods are its containers), the pod firewall also hangs from DOCKER-USER:
dockerd keeps that chain first in FORWARD, and when it creates a network it puts its own
ACCEPT of the bridge's outgoing traffic before anything else, ours included."""

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}
"""Built-in chains cleanup searches for jumps to our chains."""
