"""Settings of the apiserver process and their command-line flags (Kubernetes' names)."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass, field

from minik8s.apiserver.audit.options import AuditOptions, add_audit_flags, audit_options
from minik8s.componentbase import options

AUTHORIZATION_MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")
ADMISSION_PLUGINS = ("NodeRestriction", "PodSecurity")
"""Plugins `--enable-admission-plugins` may name (PodSecurity is on anyway, as in Kubernetes)."""


@dataclass(frozen=True)
class ApiserverSettings:
    etcd_servers: tuple[str, ...] = ("http://127.0.0.1:2379",)
    """etcd client URLs (every member; one is used at a time, the next when it fails)."""
    etcd_cafile: str | None = None
    """CA that signed etcd's serving certificate (for https:// endpoints)."""
    etcd_certfile: str | None = None
    """Client certificate the apiserver presents to etcd (`--client-cert-auth`)."""
    etcd_keyfile: str | None = None
    """Private key of that client certificate."""
    etcd_compaction_interval: float = 300.0
    """Seconds between etcd compactions (Kubernetes' default 5m); 0 never compacts."""
    bind_address: str = "127.0.0.1"
    """Address to listen on (loopback by default)."""
    advertise_address: str | None = None
    """Address the `kubernetes` Service's Endpoints hold for this apiserver (pods reach it
    there). Default: the bind address, or the default route's interface address when that is
    loopback or 0.0.0.0, as in Kubernetes (Endpoints may not hold loopback addresses). Given
    explicitly and outside the bind address, it is listened on too (`listeners`)."""
    endpoint_reconciler_type: str = "lease"
    """`lease`: every live apiserver holds an identity Lease and is in the `kubernetes`
    Endpoints; `none`: no identity Lease, the Service and Endpoints are left alone (the
    apiserver writes nothing of its own). (`master-count` is taken as `lease`: no count is
    needed.)"""
    identity_lease_duration_seconds: int = 15
    """Life of this apiserver's identity Lease without renewal (Kubernetes: 3600; minik8s also
    takes a dead apiserver out of the `kubernetes` Endpoints with it)."""
    identity_lease_renew_interval_seconds: float = 5.0
    """Seconds between renewals of the identity Lease (and endpoint reconciliations)."""
    port: int = 6443
    """Port to listen on (HTTPS with --tls-cert-file, else plain HTTP)."""
    token_auth_file: str | None = None
    """CSV `token,user,uid,"groups"`: bearer tokens of static users."""
    client_ca_file: str | None = None
    """CA whose client certificates authenticate users (CN user, O groups)."""
    enable_bootstrap_token_auth: bool = False
    """Bootstrap tokens (Secrets `kube-system/bootstrap-token-<id>`) authenticate as
    `system:bootstrap:<id>` (TLS bootstrapping of joining nodes)."""
    anonymous_auth: bool = True
    """Requests without credentials are `system:anonymous` (off with AlwaysAllow, as in
    Kubernetes: anonymous users would be allowed everything)."""
    authorization_mode: tuple[str, ...] = ("AlwaysAllow",)
    """Authorizers in order: Node, RBAC, AlwaysAllow, AlwaysDeny."""
    enable_admission_plugins: tuple[str, ...] = ()
    """Admission plugins beyond the always-on ones: NodeRestriction."""
    kubelet_client_certificate: str | None = None
    """Client certificate the apiserver shows kubelets (logs, exec, node proxy)."""
    kubelet_client_key: str | None = None
    kubelet_certificate_authority: str | None = None
    """CA of the kubelets' serving certificates; without it they are not verified."""
    tls_cert_file: str | None = None
    """Serving certificate (PEM); with the key, the apiserver serves HTTPS."""
    tls_private_key_file: str | None = None
    """Private key of the serving certificate (PEM)."""
    service_cluster_ip_range: str = "10.96.0.0/16"
    """CIDR ClusterIPs come from."""
    service_node_port_range: tuple[int, int] = (30000, 32767)
    """Inclusive NodePort range."""
    event_ttl: int = 3600
    """Seconds an Event is kept after its last write (Kubernetes' default: 1h)."""
    watch_cache_size: int = 10_000
    """Events kept per resource for watches that resume; older resourceVersions get 410."""
    watch_bookmark_interval: float = 30.0
    """Seconds between BOOKMARK events on watches that allow them."""
    min_request_timeout: float = 1800.0
    """Watches without timeoutSeconds end after this many seconds times 1..2; a longer
    timeoutSeconds is cut to twice this."""
    max_watches: int = 20_000
    """Open watches in all; more get 429 (0: no cap)."""
    max_watches_per_client: int = 5_000
    """Open watches of one user (or one address without authentication); 0: no cap."""
    enable_priority_and_fairness: bool = True
    """API Priority and Fairness: requests get seats by priority level, the excess a 429."""
    max_requests_inflight: int = 400
    """With `max_mutating_requests_inflight`, the seats API Priority and Fairness shares out."""
    max_mutating_requests_inflight: int = 200
    request_timeout: float = 60.0
    """`--request-timeout`; here only a quarter of it is used: how long a request may wait for
    a seat of its priority level before its 429 (Kubernetes derives that wait the same way)."""
    encryption_provider_config: str | None = None
    """EncryptionConfiguration file: the resources it names are encrypted in etcd."""
    service_account_issuer: tuple[str, ...] = ()
    """`iss` of the tokens issued (the first) and accepted (all)."""
    service_account_key_file: tuple[str, ...] = ()
    """PEM files with the public keys that verify service account tokens."""
    service_account_signing_key_file: str | None = None
    """PEM private key that signs service account tokens (enables TokenRequest and the
    ServiceAccount admission)."""
    api_audiences: tuple[str, ...] = ()
    """Audiences the apiserver accepts in tokens and issues by default (default: the issuers)."""
    service_account_max_token_expiration: int = 0
    """Longest token lifetime in seconds a TokenRequest gets (0: no cap)."""
    service_account_jwks_uri: str | None = None
    """`jwks_uri` of the discovery document (default: this apiserver's /openid/v1/jwks)."""
    allow_privileged: bool = False
    """Accept privileged containers (kube-apiserver's `--allow-privileged`, false by default):
    otherwise they are a 422 `disallowed by cluster policy`."""
    admission_control_config_file: str | None = None
    """AdmissionConfiguration file: the PodSecurity plugin's defaults and exemptions."""
    proxy_client_cert_file: str | None = None
    """The front-proxy client certificate shown to extension apiservers (else one is made)."""
    proxy_client_key_file: str | None = None
    requestheader_client_ca_file: str | None = None
    """The CA of the front-proxy certificate, published for extension apiservers."""
    aggregator_loopback_services: tuple[str, ...] = ()
    """`namespace/name` of Services whose extension server runs on this machine, reached at
    127.0.0.1 and the Service port's targetPort (minik8s' own metrics server)."""
    audit: AuditOptions = field(default_factory=AuditOptions)
    """`--audit-*`: the policy, the log file and the webhook (off by default)."""
    log_level: str = "info"


def parse_args(argv: list[str] | None = None) -> ApiserverSettings:
    parser = options.new_parser(
        "minik8s-apiserver", "The minik8s API server (Kubernetes-compatible)."
    )
    parser.add_argument(
        "--etcd-servers", default="http://127.0.0.1:2379", help="comma-separated etcd client URLs"
    )
    parser.add_argument("--etcd-cafile", default=None, help="CA of etcd's serving certificate")
    parser.add_argument("--etcd-certfile", default=None, help="client certificate for etcd")
    parser.add_argument("--etcd-keyfile", default=None, help="key of the etcd client certificate")
    parser.add_argument(
        "--etcd-compaction-interval", type=options.duration, default="5m",
        help="how often etcd is compacted (0: never)",
    )  # fmt: skip
    parser.add_argument("--bind-address", default="127.0.0.1")
    parser.add_argument("--advertise-address", default=None, type=_ip)
    parser.add_argument(
        "--endpoint-reconciler-type", choices=("lease", "master-count", "none"), default="lease"
    )
    parser.add_argument("--identity-lease-duration-seconds", type=int, default=15)
    parser.add_argument(
        "--identity-lease-renew-interval-seconds", type=options.positive_duration, default=5.0
    )
    parser.add_argument("--port", "--secure-port", type=options.port, default=6443)
    parser.add_argument("--token-auth-file", default=None)
    options.bool_flag(parser, "--enable-bootstrap-token-auth", False)
    parser.add_argument("--client-ca-file", default=None)
    options.bool_flag(parser, "--anonymous-auth", True)
    parser.add_argument(
        "--authorization-mode", default="AlwaysAllow", help="comma-separated, in order"
    )
    parser.add_argument("--enable-admission-plugins", default="")
    parser.add_argument("--kubelet-client-certificate", default=None)
    parser.add_argument("--kubelet-client-key", default=None)
    parser.add_argument("--kubelet-certificate-authority", default=None)
    parser.add_argument("--tls-cert-file", default=None)
    parser.add_argument("--tls-private-key-file", default=None)
    parser.add_argument("--service-cluster-ip-range", default="10.96.0.0/16")
    parser.add_argument("--service-node-port-range", default="30000-32767")
    parser.add_argument(
        "--event-ttl", type=_whole_seconds, default="1h0m0s", help="how long Events are kept"
    )
    parser.add_argument("--watch-cache-size", type=int, default=10_000)
    parser.add_argument("--watch-bookmark-interval", type=options.positive_duration, default=30.0)
    parser.add_argument("--min-request-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--max-watches", type=int, default=20_000, help="open watches in all (0: no cap)"
    )
    parser.add_argument(
        "--max-watches-per-client", type=int, default=5_000,
        help="open watches of one user or address (0: no cap)",
    )  # fmt: skip
    options.bool_flag(
        parser, "--enable-priority-and-fairness", True,
        "limit concurrent requests by priority level (429 + Retry-After past the limit)",
    )  # fmt: skip
    parser.add_argument(
        "--max-requests-inflight", type=int, default=400,
        help="with --max-mutating-requests-inflight: the server's concurrency limit",
    )  # fmt: skip
    parser.add_argument("--max-mutating-requests-inflight", type=int, default=200)
    parser.add_argument(
        "--request-timeout", type=options.positive_duration, default=60.0,
        help="a quarter of it: the longest wait for a seat before a 429",
    )  # fmt: skip
    options.add_logging_flags(parser)
    parser.add_argument("--encryption-provider-config", default=None)
    parser.add_argument("--service-account-issuer", action="append", default=[])
    parser.add_argument("--service-account-key-file", action="append", default=[])
    parser.add_argument("--service-account-signing-key-file", default=None)
    parser.add_argument("--api-audiences", default="", help="comma-separated audiences")
    parser.add_argument(
        "--service-account-max-token-expiration", type=options.duration, default=0.0
    )
    parser.add_argument("--service-account-jwks-uri", default=None)
    options.bool_flag(parser, "--allow-privileged", False)
    parser.add_argument("--admission-control-config-file", default=None)
    parser.add_argument("--proxy-client-cert-file", default=None)
    parser.add_argument("--proxy-client-key-file", default=None)
    parser.add_argument("--requestheader-client-ca-file", default=None)
    options.bool_flag(
        parser, "--enable-aggregator-routing", True,
        "accepted for compatibility: extension servers are always reached at their Endpoints' "
        "addresses",
    )  # fmt: skip
    parser.add_argument(
        "--aggregator-loopback-services", default="",
        help="comma-separated namespace/name of Services that APIServices reach at 127.0.0.1 "
        "and the port's targetPort (minik8s: extension servers running on this machine)",
    )  # fmt: skip
    add_audit_flags(parser)
    args = parser.parse_args(argv)
    front_proxy = (
        args.proxy_client_cert_file,
        args.proxy_client_key_file,
        args.requestheader_client_ca_file,
    )
    if any(front_proxy) and not all(front_proxy):
        parser.error(
            "--proxy-client-cert-file, --proxy-client-key-file and "
            "--requestheader-client-ca-file go together"
        )
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        parser.error("--tls-cert-file and --tls-private-key-file go together")
    if bool(args.etcd_certfile) != bool(args.etcd_keyfile):
        parser.error("--etcd-certfile and --etcd-keyfile go together")
    modes = tuple(m.strip() for m in args.authorization_mode.split(",") if m.strip())
    unknown = [m for m in modes if m not in AUTHORIZATION_MODES]
    if unknown or not modes:
        parser.error(
            f"--authorization-mode: unknown mode(s) {', '.join(unknown) or '(none)'}; "
            f"known: {', '.join(AUTHORIZATION_MODES)}"
        )
    plugins = tuple(p.strip() for p in args.enable_admission_plugins.split(",") if p.strip())
    unknown = [p for p in plugins if p not in ADMISSION_PLUGINS]
    if unknown:
        parser.error(
            f"--enable-admission-plugins: unknown plugin(s) {', '.join(unknown)}; "
            f"known: {', '.join(ADMISSION_PLUGINS)}"
        )
    if bool(args.kubelet_client_certificate) != bool(args.kubelet_client_key):
        parser.error("--kubelet-client-certificate and --kubelet-client-key go together")
    try:
        low, high = (int(x) for x in args.service_node_port_range.split("-"))
    except ValueError:
        parser.error(
            f"--service-node-port-range must look like 30000-32767, "
            f"not {args.service_node_port_range!r}"
        )
    if args.identity_lease_duration_seconds <= args.identity_lease_renew_interval_seconds:
        parser.error("--identity-lease-duration-seconds must exceed the renew interval")
    return options.settings_from(
        ApiserverSettings, args,
        etcd_servers=tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip()),
        endpoint_reconciler_type=(
            "none" if args.endpoint_reconciler_type == "none" else "lease"
        ),
        authorization_mode=modes,
        enable_admission_plugins=plugins,
        service_node_port_range=(low, high),
        service_account_issuer=tuple(args.service_account_issuer),
        service_account_key_file=tuple(args.service_account_key_file),
        api_audiences=tuple(a.strip() for a in args.api_audiences.split(",") if a.strip()),
        service_account_max_token_expiration=int(args.service_account_max_token_expiration),
        aggregator_loopback_services=_loopback_services(parser, args.aggregator_loopback_services),
        audit=audit_options(args),
    )  # fmt: skip


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from e


def _loopback_services(parser: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name.count("/") != 1 or not all(name.split("/")):
            parser.error(f"--aggregator-loopback-services: {name!r} is not namespace/name")
    return names


def _whole_seconds(text: str) -> int:
    """A Go duration in whole seconds, as etcd leases count: 0 stays 0, anything else is at
    least 1."""
    seconds = options.duration(text)
    return max(1, round(seconds)) if seconds else 0
