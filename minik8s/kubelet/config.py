"""Settings of the kubelet process and their command-line flags (Kubernetes' names)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from minik8s.api import quantity
from minik8s.componentbase import options


@dataclass(frozen=True)
class Taint:
    key: str
    value: str | None
    effect: str

    def to_dict(self) -> dict[str, str]:
        result = {"key": self.key, "effect": self.effect}
        if self.value:
            result["value"] = self.value
        return result


@dataclass(frozen=True)
class KubeletSettings:
    node_name: str
    """Name of the Node object this kubelet registers and whose pods it runs."""
    client: options.ClientOptions = field(default_factory=options.ClientOptions)
    """How to reach the apiserver (`--kubeconfig`, `--master`)."""
    runtime: str = "docker"
    """`docker` runs real containers; `fake` is a hollow runtime (pods Running, no Docker)."""
    cpu: str | None = None
    """CPU capacity to report (e.g. `4`, `1500m`); default: the machine's."""
    memory: str | None = None
    """Memory capacity to report (e.g. `8Gi`); default: the machine's."""
    max_pods: int = 110
    """Pods this node accepts (capacity `pods`)."""
    register_with_taints: tuple[Taint, ...] = ()
    """Taints the Node is registered with."""
    node_ip: str = "127.0.0.1"
    """InternalIP of the node, the pods' hostIP, and where the kubelet's API listens."""
    port: int = 0
    """Port of the kubelet's API (logs, exec); 0 picks a free one, reported in the Node."""
    node_status_update_frequency: float = 10.0
    """Seconds between Lease renewals and node status checks (written when changed)."""
    node_status_report_frequency: float = 300.0
    """Seconds after which the node status is written even when nothing changed."""
    node_lease_duration_seconds: int = 40
    """Lease duration written into the node's Lease."""
    pod_subnet: str = "10.244.0.0/16"
    """Subnet of the Docker bridge network `minik8s` that pod sandboxes join."""
    pod_subnet_from_node: bool = False
    """Use the node's `spec.podCIDR` (allocated by the controller-manager) as `pod_subnet`,
    waiting for it after registering; for clusters with one pod network per node."""
    network_name: str = "minik8s"
    """Docker network of the pod sandboxes."""
    pod_workers: int = 16
    """Pods synced in parallel."""
    pleg_relist_period: float = 1.0
    """Seconds between relists of the node's containers (noticing exits and crashes)."""
    resync_period: float = 30.0
    """Seconds between syncs of a pod when nothing happened (each pod's own, plus up to 50 %
    jitter, as Kubernetes' `--sync-frequency`)."""
    backoff_base: float = 10.0
    """First CrashLoopBackOff / ImagePullBackOff delay in seconds; doubles each time."""
    backoff_cap: float = 300.0
    """Longest back-off delay in seconds."""
    root_dir: Path = field(default_factory=lambda: Path.home() / ".minik8s" / "kubelet")
    """Where pod volumes (emptyDir, configMap) live: `<root>/<node>/pods/<uid>/volumes`."""
    cluster_dns: tuple[str, ...] = ("10.96.0.10",)
    """Nameservers of `ClusterFirst` pods: the `kube-dns` Service's ClusterIP (`clusterDNS`)."""
    cluster_domain: str = "cluster.local"
    """The cluster's DNS domain: pods search `<ns>.svc.<domain> svc.<domain> <domain>`."""
    resolv_conf: str = "/etc/resolv.conf"
    """The node's resolver configuration: `dnsPolicy: Default` pods get it ('' for none)."""
    tls_cert_file: str | None = None
    """Serving certificate of the kubelet's API; with the key it serves HTTPS."""
    tls_private_key_file: str | None = None
    client_ca_file: str | None = None
    """CA whose client certificates authenticate callers (the apiserver's)."""
    authentication_token_webhook: bool = False
    """Check bearer tokens with a TokenReview."""
    anonymous_auth: bool = True
    """Requests without credentials are system:anonymous (else 401)."""
    authorization_mode: str = "AlwaysAllow"
    """AlwaysAllow, or Webhook: a SubjectAccessReview for nodes/<subresource>."""
    bootstrap_kubeconfig: str | None = None
    """Kubeconfig with a bootstrap token: when `--kubeconfig` has no valid certificate, the
    kubelet gets one with a CertificateSigningRequest and writes `--kubeconfig`."""
    cert_dir: Path | None = None
    """Where the kubelet keeps its certificates (default `<root-dir>/<node>/pki`)."""
    rotate_certificates: bool = False
    """Renew the client certificate (of `--cert-dir`) before it expires."""
    rotate_server_certificates: bool = False
    """Get the serving certificate from the cluster (signer kubernetes.io/kubelet-serving) and
    renew it; a self-signed one is served until it is issued."""
    bootstrap_timeout: float = 300.0
    """Seconds to wait for the first client certificate to be issued."""
    pause_image: str = "minik8s/pause:latest"
    """Image of the pod sandbox container."""
    seccomp_default: bool = True
    """Containers without a seccompProfile get the runtime's default profile (Kubernetes'
    `--seccomp-default`, false there; Docker's own default, so true here)."""
    image_pull_fallback_to_local: bool = False
    """When the registry of an `imagePullPolicy: Always` image cannot be reached at all, run the
    image present on the node (with a Warning Event) instead of failing with ErrImagePull: for
    machines without a registry. Never for a registry that answered (a missing tag, denied)."""
    lock_file: Path | None = None
    """Held while the kubelet runs (Kubernetes' `--lock-file`); default
    `/run/minik8s/kubelet-<cluster uid>-<node>.lock`: a second kubelet for the same node of the
    same cluster on this host refuses to start instead of fighting over its containers."""
    shutdown_grace: float = 10.0
    """Seconds the process waits for its tasks on SIGTERM (containers keep running)."""
    cloud_provider: str = ""
    """`external`: a cloud controller manager initializes the Node (the kubelet registers it
    with the `node.cloudprovider.kubernetes.io/uninitialized` taint, gives its node IP as the
    `alpha.kubernetes.io/provided-node-ip` annotation and keeps the addresses it finds)."""
    log_level: str = "info"

    @property
    def pods_dir(self) -> Path:
        return self.root_dir / self.node_name / "pods"

    @property
    def certificates_dir(self) -> Path:
        return self.cert_dir or self.root_dir / self.node_name / "pki"


def parse_taint(text: str) -> Taint:
    """`key=value:Effect` or `key:Effect`."""
    head, sep, effect = text.rpartition(":")
    if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not head:
        raise ValueError(f"taint {text!r} must look like key=value:NoSchedule")
    key, _, value = head.partition("=")
    return Taint(key, value or None, effect)


def parse_args(argv: list[str] | None = None) -> KubeletSettings:
    d = KubeletSettings(node_name="")
    parser = options.new_parser("minik8s-kubelet", "The minik8s node agent: runs pods in Docker.")
    options.add_client_flags(parser)
    options.add_logging_flags(parser)
    parser.add_argument("--node-name", default=os.uname().nodename)
    parser.add_argument("--runtime", choices=("docker", "fake"), default="docker")
    parser.add_argument("--cpu", default=None, help="CPU capacity (default: the machine's)")
    parser.add_argument("--memory", default=None, help="memory capacity (default: the machine's)")
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument(
        "--register-with-taints", default="", help="comma-separated key=value:Effect taints"
    )
    parser.add_argument("--node-ip", default="127.0.0.1")
    parser.add_argument("--port", type=options.port, default=0,
                        help="kubelet API port (0: a free one)")  # fmt: skip
    parser.add_argument(
        "--node-status-update-frequency", type=options.positive_duration,
        default=d.node_status_update_frequency, metavar="DURATION",
    )  # fmt: skip
    parser.add_argument("--pod-subnet", default="10.244.0.0/16")
    parser.add_argument(
        "--pod-subnet-from-node",
        action="store_true",
        help="wait for the node's spec.podCIDR and use it instead of --pod-subnet",
    )
    parser.add_argument("--pod-workers", type=int, default=16)
    parser.add_argument(
        "--cluster-dns", default="10.96.0.10",
        help="comma-separated nameservers of ClusterFirst pods ('' for none)",
    )  # fmt: skip
    parser.add_argument("--cluster-domain", default="cluster.local")
    parser.add_argument("--resolv-conf", default="/etc/resolv.conf")
    parser.add_argument("--tls-cert-file", default=None)
    parser.add_argument("--tls-private-key-file", default=None)
    parser.add_argument("--client-ca-file", default=None)
    options.bool_flag(parser, "--authentication-token-webhook", False)
    options.bool_flag(parser, "--anonymous-auth", True)
    parser.add_argument(
        "--authorization-mode", choices=("AlwaysAllow", "Webhook"), default="AlwaysAllow"
    )
    parser.add_argument("--root-dir", default=None)
    parser.add_argument("--bootstrap-kubeconfig", default=None)
    parser.add_argument("--cert-dir", default=None)
    options.bool_flag(parser, "--rotate-certificates", False)
    options.bool_flag(parser, "--rotate-server-certificates", False)
    options.bool_flag(
        parser,
        "--seccomp-default",
        True,
        "the runtime's default seccomp profile for containers that name none",
    )
    options.bool_flag(
        parser,
        "--image-pull-fallback-to-local",
        False,
        "run the local image when an Always-pulled image's registry is unreachable",
    )
    parser.add_argument(
        "--lock-file", type=Path, default=None,
        help="held while running: a second kubelet for this node refuses to start",
    )  # fmt: skip
    parser.add_argument(
        "--cloud-provider", choices=("", "external"), default="",
        help="external: a cloud controller manager initializes this node",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        taints = tuple(parse_taint(t) for t in args.register_with_taints.split(",") if t.strip())
        if args.cpu is not None:
            quantity.cpu_millis(args.cpu)
        if args.memory is not None:
            quantity.memory_bytes(args.memory)
    except ValueError as e:
        parser.error(str(e))
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        parser.error("--tls-cert-file and --tls-private-key-file go together")
    if args.bootstrap_kubeconfig and not args.kubeconfig:
        parser.error("--bootstrap-kubeconfig needs --kubeconfig (where the result is written)")
    if args.rotate_server_certificates and args.tls_cert_file:
        parser.error("--rotate-server-certificates and --tls-cert-file exclude each other")
    return options.settings_from(
        KubeletSettings, args,
        register_with_taints=taints,
        cluster_dns=tuple(a.strip() for a in args.cluster_dns.split(",") if a.strip()),
        cluster_domain=args.cluster_domain.strip(".").lower(),
        root_dir=Path(args.root_dir) if args.root_dir else d.root_dir,
        cert_dir=Path(args.cert_dir) if args.cert_dir else None,
    )  # fmt: skip
