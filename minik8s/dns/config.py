"""Settings of the DNS process and their flags (CoreDNS's and kube-dns's meanings)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from minik8s.componentbase import options
from minik8s.dns import forward, wire
from minik8s.dns.forward import Upstream

DEFAULT_UPSTREAM = "/etc/resolv.conf"


@dataclass(frozen=True)
class DnsSettings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    healthz: options.HealthzOptions = field(
        default_factory=lambda: options.HealthzOptions(port=8080)
    )
    """/healthz, /readyz (informers synced) and /metrics (CoreDNS's health port is 8080)."""
    cluster_domain: str = "cluster.local"
    """The zone served: `<svc>.<ns>.svc.<cluster_domain>`."""
    bind_addresses: tuple[str, ...] = ("127.0.0.1",)
    """Addresses the DNS listens on (UDP and TCP); they need not exist yet (IP_FREEBIND)."""
    port: int = 53
    """Port of every listener; 0 picks a free one."""
    ttl: int = 5
    """TTL of every record served, and of negative answers (SOA minimum)."""
    upstreams: tuple[Upstream, ...] = ()
    """Where names outside the zone go; none: SERVFAIL for them."""
    upstream_timeout: float = 2.0
    """Seconds to wait for one upstream before trying the next."""
    cache_size: int = 10_000
    """Forwarded answers kept."""
    cache_max_ttl: int = 30
    """Longest a forwarded answer is kept (seconds)."""
    tcp_idle: float = 10.0
    """Seconds a TCP connection may stay idle between queries."""
    log_level: str = "info"


def _domain(text: str) -> str:
    domain = text.strip().strip(".").lower()
    try:
        wire.name_to_wire(domain)
    except wire.NameError_ as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if not domain:
        raise argparse.ArgumentTypeError("the cluster domain cannot be the root")
    return domain


_ttl = options.ranged(int, 0, 3600, what="TTL")


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> options.FlagParser:
    p = options.new_parser(
        "minik8s-dns", "The cluster DNS: Services and their endpoints by name, from informers."
    )
    options.add_client_flags(p)
    options.add_healthz_flags(p, default_port=8080)
    options.add_logging_flags(p)
    p.add_argument("--cluster-domain", "--domain", type=_domain, default="cluster.local")
    p.add_argument(
        "--dns-bind-address", action="append", default=None, metavar="IP[,IP…]",
        help="address to serve DNS on, repeatable (default 127.0.0.1)",
    )  # fmt: skip
    p.add_argument("--dns-port", type=options.port, default=53, help="0: a free port")
    p.add_argument("--ttl", type=_ttl, default=5, help="TTL of answers, in seconds")
    p.add_argument(
        "--upstream", action="append", default=None, metavar="IP[:PORT]|FILE",
        help="upstream resolver or resolv.conf for names outside the zone, repeatable "
        f"(default {DEFAULT_UPSTREAM}; 'none': SERVFAIL for them)",
    )  # fmt: skip
    p.add_argument("--upstream-timeout", type=options.positive_duration, default=2.0)
    p.add_argument("--cache-size", type=int, default=10_000)
    p.add_argument("--cache-max-ttl", type=int, default=30)
    return p


def parse_args(argv: list[str] | None = None) -> DnsSettings:
    parser = build_parser()
    args = parser.parse_args(argv)
    binds = [a for value in args.dns_bind_address or ["127.0.0.1"] for a in _list(value)]
    upstreams: list[Upstream] = []
    for value in args.upstream or [DEFAULT_UPSTREAM]:
        for item in _list(value):
            if item == "none":
                continue
            try:
                upstreams.extend(forward.parse_upstream(item))
            except ValueError as e:
                parser.error(f"--upstream {item}: {e}")
    return DnsSettings(
        client=options.client_options(args),
        healthz=options.healthz_options(args),
        cluster_domain=args.cluster_domain,
        bind_addresses=tuple(binds),
        port=args.dns_port,
        ttl=args.ttl,
        upstreams=tuple(upstreams),
        upstream_timeout=args.upstream_timeout,
        cache_size=max(0, args.cache_size),
        cache_max_ttl=max(0, args.cache_max_ttl),
        log_level=args.log_level,
    )
