"""Settings of the apiserver process and their command-line flags (Kubernetes' names)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from minik8s.api import durations
from minik8s.componentbase import options


@dataclass(frozen=True)
class ApiserverSettings:
    etcd_servers: tuple[str, ...] = ("http://127.0.0.1:2379",)
    """etcd client URLs; the first one is used."""
    bind_address: str = "127.0.0.1"
    """Address to listen on (loopback by default)."""
    port: int = 6443
    """Port to listen on (plain HTTP)."""
    token_auth_file: str | None = None
    """CSV `token,user,uid,"groups"`; when set, every non-health request needs a bearer token."""
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
    """Watches without timeoutSeconds end after this many seconds times 1..2."""
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
    proxy_client_cert_file: str | None = None
    """The front-proxy client certificate shown to extension apiservers (else one is made)."""
    proxy_client_key_file: str | None = None
    requestheader_client_ca_file: str | None = None
    """The CA of the front-proxy certificate, published for extension apiservers."""
    log_level: str = "info"


def parse_args(argv: list[str] | None = None) -> ApiserverSettings:
    parser = argparse.ArgumentParser(
        prog="minik8s-apiserver", description="The minik8s API server (Kubernetes-compatible)."
    )
    parser.add_argument(
        "--etcd-servers", default="http://127.0.0.1:2379", help="comma-separated etcd client URLs"
    )
    parser.add_argument("--bind-address", default="127.0.0.1")
    parser.add_argument("--port", "--secure-port", type=int, default=6443)
    parser.add_argument("--token-auth-file", default=None)
    parser.add_argument("--tls-cert-file", default=None)
    parser.add_argument("--tls-private-key-file", default=None)
    parser.add_argument("--service-cluster-ip-range", default="10.96.0.0/16")
    parser.add_argument("--service-node-port-range", default="30000-32767")
    parser.add_argument(
        "--event-ttl", type=_whole_seconds, default="1h0m0s", help="how long Events are kept"
    )
    parser.add_argument("--watch-cache-size", type=int, default=10_000)
    parser.add_argument("--watch-bookmark-interval", type=float, default=30.0)
    parser.add_argument("--min-request-timeout", type=float, default=1800.0)
    parser.add_argument("--encryption-provider-config", default=None)
    parser.add_argument("--service-account-issuer", action="append", default=[])
    parser.add_argument("--service-account-key-file", action="append", default=[])
    parser.add_argument("--service-account-signing-key-file", default=None)
    parser.add_argument("--api-audiences", default="", help="comma-separated audiences")
    parser.add_argument(
        "--service-account-max-token-expiration", type=options.duration, default=0.0
    )
    parser.add_argument("--service-account-jwks-uri", default=None)
    parser.add_argument("--proxy-client-cert-file", default=None)
    parser.add_argument("--proxy-client-key-file", default=None)
    parser.add_argument("--requestheader-client-ca-file", default=None)
    parser.add_argument(
        "--enable-aggregator-routing",
        default="true",
        help="accepted for compatibility: extension servers are always reached at their "
        "Endpoints' addresses",
    )
    parser.add_argument("--v", "--log-level", dest="log_level", default="info")
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
    try:
        low, high = (int(x) for x in args.service_node_port_range.split("-"))
    except ValueError:
        parser.error(
            f"--service-node-port-range must look like 30000-32767, "
            f"not {args.service_node_port_range!r}"
        )
    return ApiserverSettings(
        etcd_servers=tuple(s.strip() for s in args.etcd_servers.split(",") if s.strip()),
        bind_address=args.bind_address,
        port=args.port,
        token_auth_file=args.token_auth_file,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=(low, high),
        event_ttl=args.event_ttl,
        watch_cache_size=args.watch_cache_size,
        watch_bookmark_interval=args.watch_bookmark_interval,
        min_request_timeout=args.min_request_timeout,
        encryption_provider_config=args.encryption_provider_config,
        proxy_client_cert_file=args.proxy_client_cert_file,
        proxy_client_key_file=args.proxy_client_key_file,
        requestheader_client_ca_file=args.requestheader_client_ca_file,
        service_account_issuer=tuple(args.service_account_issuer),
        service_account_key_file=tuple(args.service_account_key_file),
        service_account_signing_key_file=args.service_account_signing_key_file,
        api_audiences=tuple(a.strip() for a in args.api_audiences.split(",") if a.strip()),
        service_account_max_token_expiration=int(args.service_account_max_token_expiration),
        service_account_jwks_uri=args.service_account_jwks_uri,
        log_level=str(args.log_level),
    )


def _whole_seconds(text: str) -> int:
    """A Go duration in whole seconds, as etcd leases count: 0 stays 0, anything else is at
    least 1."""
    seconds = durations.parse_duration(text)
    if seconds < 0:
        raise ValueError(f"{text!r} is negative")
    return max(1, round(seconds)) if seconds else 0
