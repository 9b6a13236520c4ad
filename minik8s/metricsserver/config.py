"""Settings and flags of minik8s-metrics-server (metrics-server's own flag names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from minik8s.componentbase import options


@dataclass(frozen=True)
class MetricsServerSettings:
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    bind_address: str = "127.0.0.1"
    """Where the HTTPS server listens (the aggregation layer reaches it there)."""
    secure_port: int = 4443
    """Its port; 0 picks a free one (the registered Endpoints say which)."""
    cert_dir: str | None = None
    """Where its self-signed serving certificate is made (default: a private temporary
    directory); its CA is the APIService's caBundle."""
    metric_resolution: float = 15.0
    """Seconds between two scrapes of every kubelet: the window usage is averaged over."""
    kubelet_scheme: str = "auto"
    """https, http, or auto (https, then http for a kubelet that does not speak TLS)."""
    kubelet_insecure_tls: bool = False
    """Do not verify the kubelets' serving certificates."""
    kubelet_certificate_authority: str | None = None
    """CA of the kubelets' serving certificates (default: the kubeconfig's CA)."""
    kubelet_request_timeout: float = 10.0
    register: bool = True
    """Keep the kube-system/metrics-server Service and Endpoints and the
    v1beta1.metrics.k8s.io APIService pointing here (remove the Endpoints on exit)."""
    service_namespace: str = "kube-system"
    service_name: str = "metrics-server"
    advertise_address: str = "127.0.0.1"
    """The address registered in the Endpoints."""
    log_level: str = "info"


def parse_args(argv: list[str] | None = None) -> MetricsServerSettings:
    parser = options.new_parser(
        "minik8s-metrics-server",
        "Scrapes the kubelets' resource metrics and serves metrics.k8s.io/v1beta1 through the "
        "aggregation layer.",
    )
    options.add_client_flags(parser)
    options.add_logging_flags(parser)
    d = MetricsServerSettings()
    parser.add_argument("--bind-address", default=d.bind_address)
    parser.add_argument("--secure-port", type=options.port, default=d.secure_port)
    parser.add_argument("--cert-dir", default=None)
    parser.add_argument(
        "--metric-resolution", type=options.positive_duration, default=d.metric_resolution
    )
    parser.add_argument("--kubelet-scheme", choices=("auto", "https", "http"), default="auto")
    options.bool_flag(parser, "--kubelet-insecure-tls", False, "skip verifying kubelet certs")
    parser.add_argument("--kubelet-certificate-authority", default=None)
    parser.add_argument("--kubelet-request-timeout", type=options.positive_duration, default=10.0)
    options.bool_flag(parser, "--register", True, "keep its Service, Endpoints and APIService")
    parser.add_argument("--advertise-address", default=d.advertise_address)
    args = parser.parse_args(argv)
    return MetricsServerSettings(
        client=options.client_options(args),
        bind_address=args.bind_address,
        secure_port=args.secure_port,
        cert_dir=args.cert_dir,
        metric_resolution=args.metric_resolution,
        kubelet_scheme=args.kubelet_scheme,
        kubelet_insecure_tls=args.kubelet_insecure_tls,
        kubelet_certificate_authority=args.kubelet_certificate_authority,
        kubelet_request_timeout=args.kubelet_request_timeout,
        register=args.register,
        advertise_address=args.advertise_address,
        log_level=args.log_level,
    )
