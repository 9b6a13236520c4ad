"""The component table: what `minik8s up` starts, in order, and how to start and probe each.

To add a component when its `<component>/server.py` is implemented, flip `enabled` to True in
`COMPONENTS` (and check its flags below against the real entry point). `down` stops them in
reverse order. Per-node components get one process per node, named `<component>-<node>`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from minik8s.cli.launcher import audit, dashboard, identities, loadbalancer, network, pki
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.instance import Instance
from minik8s.cli.launcher.pki import Pki
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.cli.launcher.state import LOOPBACK, ClusterState


class PerNode(Enum):
    """Whether a component runs once, or once per node of some kind."""

    NO = "no"
    REAL = "real"
    """One per real node (node-1…)."""
    FAKE = "fake"
    """One per hollow node (fake-node-1…)."""
    MEMBER = "member"
    """One per control-plane member (etcd-1…, apiserver-1…) with `--control-plane 3`; else
    one, unnumbered."""
    STANDBY = "standby"
    """Two, leader-elected (scheduler-1, scheduler-2), with `--control-plane 3`; else one."""


ArgvBuilder = Callable[[LauncherSettings, ClusterState, str | None], list[str]]
"""(settings, state, node name or None) -> command line."""


@dataclass(frozen=True)
class Component:
    """One row of the table."""

    name: str
    """Component name; instances of per-node components append `-<node>`."""
    enabled: bool
    """False while its entry point is a stub ("not implemented yet")."""
    issue: int | None
    """Issue that implements it, named while it is disabled."""
    argv: ArgvBuilder
    """How to build its command line."""
    health: Callable[[ClusterState], str | None] = lambda state: None
    """Its readiness URL, if it serves one."""
    per_node: PerNode = PerNode.NO
    """Whether it runs once or once per node."""
    ready_timeout: Callable[[LauncherSettings], float] = lambda s: s.component_ready_timeout
    """How long `up` waits for it to be ready."""
    identity: str | None = None
    """Its key in `identities` (its own client certificate and kubeconfig); None: none."""
    cleanup: ArgvBuilder | None = None
    """What `down` runs once every process is stopped (host state the component keeps)."""
    member_health: Callable[[ClusterState, str], str | None] | None = None
    """The readiness URL of member `n` (instead of `health`, for numbered members)."""
    wanted: Callable[[ClusterState], bool] = lambda state: True
    """Whether this cluster's shape has it (the load balancer: only in front of members)."""
    start_together: bool = False
    """Start every member before waiting for any (etcd members need a quorum to be healthy)."""


def etcd_binary(settings: LauncherSettings) -> str:
    """The etcd executable's path; `up` calls this first so a missing etcd is one clear line."""
    found = shutil.which(settings.etcd_binary)
    if found is None:
        raise LauncherError(f"etcd not found ({settings.etcd_binary}): run `make setup`")
    return found


def _python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


ETCD_SNAPSHOT_COUNT = 10_000


def _etcd(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """One etcd member: `node` is its number ("1"…) in a cluster of several, None alone."""
    certs = pki.etcd(settings.pki_dir)
    member = int(node) if node is not None else 1
    name = state.etcd_members[member - 1][0]
    client_url = state.etcd_client_url(member)
    peer_url = state.etcd_member_peer_url(member)
    data_dir = settings.etcd_data_dir if node is None else settings.etcd_member_data_dir(member)
    argv = [
        shutil.which(settings.etcd_binary) or settings.etcd_binary,
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        # TLS, and only clients with a certificate of etcd's own CA: the apiserver.
        "--client-cert-auth",
        f"--trusted-ca-file={certs.ca_cert}",
        f"--cert-file={certs.server_cert}",
        f"--key-file={certs.server_key}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        "--log-level=warn",
        # Raft entries held in memory until a snapshot: etcd 3.6's default (3.4 and 3.5 keep
        # 100 000, ~100 MB of RSS after a few thousand pod writes).
        f"--snapshot-count={ETCD_SNAPSHOT_COUNT}",
    ]
    if node is None:
        return [*argv, f"--initial-cluster=minik8s={peer_url}"]
    cluster = ",".join(
        f"{other}={state.etcd_member_peer_url(i)}"
        for i, (other, _, _) in enumerate(state.etcd_members, start=1)
    )
    # Members talk TLS to each other and accept only peers with a certificate of etcd's CA.
    return [
        *argv,
        f"--initial-cluster={cluster}",
        "--initial-cluster-token=minik8s",
        "--initial-cluster-state=new",
        "--peer-client-cert-auth",
        f"--peer-trusted-ca-file={certs.ca_cert}",
        f"--peer-cert-file={certs.peer_cert}",
        f"--peer-key-file={certs.peer_key}",
    ]


SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
"""kubeadm's default `--service-account-issuer`."""


def _apiserver(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """One apiserver: `node` is its number ("1"…) behind the load balancer, None alone. Each
    member lists every etcd member, its own first (failover to the others)."""
    certs = pki.etcd(settings.pki_dir)
    keys = Pki(settings.pki_dir)
    audit_log = settings.audit_log_file
    if node is not None:
        audit_log = settings.logs_dir / f"audit-apiserver-{node}.log"
    # pods reach it on the host's pod-network address, through the `kubernetes` Service (see
    # launcher.network); a lone apiserver with a control-plane endpoint advertises that
    # instead (kubeadm's advertiseAddress: other machines' pods reach it there) and listens
    # there too (the apiserver listens on an advertise address outside its bind address)
    advertise = network.pod_gateway()
    if node is None and state.endpoint is not None:
        advertise = state.endpoint[0]
    return [
        *_python_module("minik8s.apiserver.server"),
        f"--etcd-servers={state.etcd_servers(int(node) if node else 1)}",
        f"--etcd-cafile={certs.ca_cert}",
        f"--etcd-certfile={certs.apiserver_client_cert}",
        f"--etcd-keyfile={certs.apiserver_client_key}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={advertise}",
        f"--port={state.apiserver_member_port(node)}",
        f"--tls-cert-file={keys.serving_cert}",
        f"--tls-private-key-file={keys.serving_key}",
        f"--client-ca-file={keys.ca_cert}",
        "--enable-bootstrap-token-auth",  # `minik8s token create` / `minik8s join`
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={keys.kubelet_client_cert}",
        f"--kubelet-client-key={keys.kubelet_client_key}",
        f"--kubelet-certificate-authority={keys.ca_cert}",
        f"--encryption-provider-config={settings.encryption_config_file}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={keys.service_account_pub}",
        f"--service-account-signing-key-file={keys.service_account_key}",
        *audit.apiserver_flags(settings.audit_policy_file, audit_log),
        "--aggregator-loopback-services=kube-system/metrics-server",
        *dashboard.apiserver_flags(settings),
    ]


def _client(module: str, component: str, *extra: str) -> ArgvBuilder:
    """A component that only talks to the apiserver, with its own kubeconfig."""

    def build(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
        config = identities.component_kubeconfig(settings, component, node)
        argv = [*_python_module(module), f"--kubeconfig={config}", *extra]
        if node is not None:
            argv.append(f"--node-name={node}")
        return argv

    return build


LEADER_ELECTION = (
    "--leader-elect-lease-duration=4s",
    "--leader-elect-renew-deadline=3s",
    "--leader-elect-retry-period=500ms",
)
"""minik8s' own leader election timing with standbys: one takes over within ~4.5 s of the
leader's death (Kubernetes' defaults, 15s/10s/2s, take up to ~17 s)."""


def _standby(builder: ArgvBuilder) -> ArgvBuilder:
    """A leader-elected component: its replicas (`node` "1", "2") share one identity."""

    def build(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
        argv = builder(settings, state, None)
        return argv if node is None else [*argv, *LEADER_ELECTION]

    return build


def _loadbalancer(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """HAProxy in front of the apiservers, in the foreground (its configuration:
    `loadbalancer.render`, written by `up`)."""
    found = shutil.which("haproxy")
    if found is None:
        raise LauncherError("haproxy not found (needed by --control-plane 3): run `make setup`")
    return [found, "-db", "-f", str(settings.loadbalancer_config)]


def write_loadbalancer_config(settings: LauncherSettings, state: ClusterState) -> bool:
    """haproxy.cfg: the cluster's endpoint (`apiserver_port` on loopback, and the control-plane
    endpoint when there is one) to every apiserver member. True when it changed an existing
    configuration (a running HAProxy must restart to read it)."""
    text = loadbalancer.render(
        loadbalancer.Settings(
            bind=(LOOPBACK, state.apiserver_port),
            servers=[
                (f"apiserver-{i}", LOOPBACK, port)
                for i, port in enumerate(state.apiserver_ports, start=1)
            ],
            ca_file=Pki(settings.pki_dir).ca_cert,
            stats_socket=settings.loadbalancer_socket,
            # the control-plane endpoint other machines join (`--control-plane-endpoint`)
            extra_binds=() if state.endpoint is None else (state.endpoint,),
            # ride out an etcd leader election (~1-2 s, every /readyz waits on it: with 2 fast
            # failures every apiserver went DOWN at once and clients got EOF); a dead apiserver
            # refuses connections and is redispatched from at once anyway
            fall=3,
            check_timeout="2s",
        )
    )
    path = settings.loadbalancer_config
    if path.exists() and path.read_text() == text:
        return False
    existed = path.exists()
    path.write_text(text)
    return existed


def _kubelet(*extra: str) -> ArgvBuilder:
    """A kubelet: its node's credential, and its API on HTTPS for authenticated callers."""

    def build(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
        assert node is not None
        pki = Pki(settings.pki_dir)
        serving_cert, serving_key = pki.kubelet_serving(node)
        return [
            *_client("minik8s.kubelet.server", "kubelet", *extra)(settings, state, node),
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authentication-token-webhook",
            "--authorization-mode=Webhook",
            "--anonymous-auth=false",
            f"--root-dir={settings.kubelet_root_dir}",
        ]

    return build


def _controller_manager(
    settings: LauncherSettings, state: ClusterState, node: str | None
) -> list[str]:
    """Local-path volumes live in the cluster's home (`down --purge` removes them): every
    node of `up` shares this machine's filesystem."""
    # --healthz-port=0: a free port, so two clusters on one machine do not collide
    argv = _client("minik8s.controllers.server", "controller-manager", "--healthz-port=0")(
        settings, state, node
    )
    pki = Pki(settings.pki_dir)
    return [
        *argv,
        f"--local-path-root={settings.home / 'storage'}",
        # kubeadm's: the CSR signer holds the cluster CA; bootstrap tokens are signed into
        # cluster-info and deleted when they expire
        "--controllers=*,bootstrapsigner,tokencleaner",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        *node_cidr_flags(state),
    ]


def node_cidr_flags(state: ClusterState) -> list[str]:
    """nodeipam, when other machines can join: each Node gets a podCIDR of the pod range the
    local kubelets use (`network.POD_SUBNET`, also kube-proxy's `--cluster-cidr` default, so a
    joined node's kube-proxy needs no flag); joined kubelets make their pods' bridge on it
    (`--pod-subnet-from-node`) and the host-gw agents route it. The local kubelets keep the
    one shared Docker bridge (see README, Several apiservers)."""
    if not state.allocates_node_cidrs:
        return []
    return ["--allocate-node-cidrs=true", f"--cluster-cidr={network.POD_SUBNET}"]


def _proxy(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """One proxy per host: every node of `up` shares this machine's iptables, so a proxy per
    node would fight over the same chains. It runs as root; SIGTERM removes its rules."""
    first = node_names(state, PerNode.REAL)[:1] or ["node-1"]
    config = identities.component_kubeconfig(settings, "proxy", None)
    return [
        *_python_module("minik8s.proxy.server"),
        f"--kubeconfig={config}",
        f"--node-name={first[0]}",
        f"--state-file={settings.run_dir / 'proxy-state.json'}",
        # NodePorts on 127.0.0.1 only: a NodePort Service does not open the machine to its
        # network
        "--nodeport-addresses=127.0.0.1/32",
    ]


def _proxy_cleanup(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """Removes the rules, route and bridge of a proxy that could not remove them itself (one
    killed `stop_timeout` after SIGTERM, with many rules to remove), and puts back the sysctls it
    changed; nothing when its rules are gone already, and nothing while another cluster's
    proxy holds the host's lock."""
    return [*_python_module("minik8s.proxy.server"), "--cleanup",
            f"--state-file={settings.run_dir / 'proxy-state.json'}"]  # fmt: skip


def _dns(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """The cluster DNS on the host's pod-network address (reached through the `kube-dns`
    Service), its health and metrics on loopback."""
    argv = _client("minik8s.dns.server", "dns")(settings, state, None)
    argv += [
        f"--dns-bind-address={network.pod_gateway()}",
        f"--dns-port={state.dns_port}",
        f"--healthz-port={state.dns_metrics_port}",
    ]
    if settings.dns_upstream is not None:
        argv.append(f"--upstream={settings.dns_upstream or 'none'}")
    return argv


def _dashboard(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """The web UI on loopback: its own identity only checks the audit webhook's caller; each
    user signs in with their own credential (`minik8s dashboard` prints a one-time link)."""
    return [
        *_client("minik8s.dashboard.server", "dashboard")(settings, state, node),
        f"--bind-address={LOOPBACK}",
        f"--port={state.dashboard_port}",
        f"--grant-dir={dashboard.grant_dir(settings)}",
        f"--audit-webhook-token-file={dashboard.token_file(settings)}",
    ]


def _cloud_controller_manager(
    settings: LauncherSettings, state: ClusterState, node: str | None
) -> list[str]:
    """The `local` provider: the nodes are processes on this host; LoadBalancer addresses come
    from 203.0.113.0/24, routed to the bridge minik8s-lb (it needs root, as kube-proxy does).
    --healthz-port=0: a free port, so two clusters on one machine do not collide."""
    return _client("minik8s.cloudcontroller.server", "cloud-controller-manager",
                   "--cloud-provider=local", "--healthz-port=0")(settings, state, node)  # fmt: skip


def _cloud_cleanup(settings: LauncherSettings, state: ClusterState, node: str | None) -> list[str]:
    """Removes the pool's route and bridge (kept while the process stops: nothing may leave
    while Services hold addresses), unless another cluster's cloud controller uses them."""
    return [*_python_module("minik8s.cloudcontroller.server"), "--cloud-provider=local",
            "--cleanup"]  # fmt: skip


COMPONENTS: tuple[Component, ...] = (
    Component(
        "etcd",
        True,
        None,
        _etcd,
        health=lambda state: f"{state.etcd_url}/health",
        per_node=PerNode.MEMBER,
        ready_timeout=lambda settings: settings.etcd_ready_timeout,
        member_health=lambda state, n: f"{state.etcd_client_url(int(n))}/health",
        start_together=True,
    ),
    Component(
        "apiserver",
        True,
        None,
        _apiserver,
        health=lambda state: f"{state.apiserver_url}/readyz",
        per_node=PerNode.MEMBER,
        ready_timeout=lambda settings: settings.apiserver_ready_timeout,
        member_health=lambda state, n: (
            f"https://{LOOPBACK}:{state.apiserver_member_port(n)}/readyz"
        ),
    ),
    Component(
        "loadbalancer",
        True,
        22,
        _loadbalancer,
        health=lambda state: f"{state.apiserver_url}/readyz",
        wanted=lambda state: state.highly_available,
    ),
    # Disabled until their entry points exist; check the flags when enabling them.
    Component(
        "scheduler",
        True,
        3,
        # --healthz-port=0: a free port, so two clusters on one machine do not collide
        _standby(_client("minik8s.scheduler.server", "scheduler", "--healthz-port=0")),
        per_node=PerNode.STANDBY,
        identity="scheduler",
    ),
    Component(
        "controller-manager",
        True,
        5,
        _standby(_controller_manager),
        per_node=PerNode.STANDBY,
        identity="controller-manager",
    ),
    Component("dns", True, 16, _dns, health=lambda state: state.dns_health_url, identity="dns"),
    Component(
        "cloud-controller-manager",
        True,
        19,
        _standby(_cloud_controller_manager),
        per_node=PerNode.STANDBY,
        identity="cloud-controller-manager",
        cleanup=_cloud_cleanup,
    ),
    # The real nodes are initialized by the cloud controller manager (--cloud-provider=external).
    # No registry is reachable on these machines: an Always-pulled image present locally runs
    # (with a Warning Event) instead of failing with ErrImagePull.
    Component(
        "kubelet",
        True,
        4,
        _kubelet("--image-pull-fallback-to-local=true", "--cloud-provider=external"),
        per_node=PerNode.REAL,
        identity="kubelet",
    ),
    Component(
        "kubelet",
        True,
        4,
        _kubelet("--runtime=fake"),
        per_node=PerNode.FAKE,
        identity="kubelet",
    ),
    Component("proxy", True, None, _proxy, identity="proxy", cleanup=_proxy_cleanup),
    Component(
        "metrics-server",
        True,
        20,
        # --secure-port=0: a free port; it registers its Service and APIService itself
        _client("minik8s.metricsserver.server", "metrics-server", "--secure-port=0"),
        identity="metrics-server",
    ),
    Component(
        "dashboard",
        True,
        21,
        _dashboard,
        health=lambda state: f"{state.dashboard_url}/healthz",
        identity="dashboard",
    ),
)
"""Start order; `down` stops in reverse."""

EXTRA_ARGS_ENV = "MINIK8S_EXTRA_ARGS_"
"""`MINIK8S_EXTRA_ARGS_CONTROLLER_MANAGER="--horizontal-pod-autoscaler-sync-period=2s"`: flags
added to a component's command line (tests use it for short periods)."""


def extra_args(component: str) -> list[str]:
    value = os.environ.get(EXTRA_ARGS_ENV + component.upper().replace("-", "_"), "")
    return shlex.split(value)


STANDBYS = 2
"""Replicas of each leader-elected component with several control-plane members."""

REPLICATED = (PerNode.MEMBER, PerNode.STANDBY)
"""Kinds whose replicas are numbered copies of one component (one identity), not nodes."""


def node_names(state: ClusterState, kind: PerNode) -> list[str]:
    real = [f"node-{i}" for i in range(1, state.nodes + 1)]
    fake = [f"fake-node-{i}" for i in range(1, state.fake_nodes + 1)]
    members = [str(i) for i in range(1, state.control_plane + 1)]
    standbys = [str(i) for i in range(1, STANDBYS + 1)]
    if not state.highly_available:
        members = standbys = []
    found = {
        PerNode.REAL: real,
        PerNode.FAKE: fake,
        PerNode.MEMBER: members,
        PerNode.STANDBY: standbys,
    }
    return found.get(kind, [])


def replicas(component: Component, state: ClusterState) -> list[str | None]:
    """The `node` argument of each of its processes (None: just one, unnumbered)."""
    if component.per_node is PerNode.NO:
        return [None]
    found: list[str | None] = [*node_names(state, component.per_node)]
    if not found and component.per_node in REPLICATED:
        return [None]
    return found


def instances(settings: LauncherSettings, state: ClusterState) -> list[Instance]:
    """The processes `up` starts, in start order (enabled components only)."""
    result: list[Instance] = []
    for component in COMPONENTS:
        if not component.enabled or not component.wanted(state):
            continue
        for node in replicas(component, state):
            health_url = component.health(state)
            if node is not None and component.member_health is not None:
                health_url = component.member_health(state, node)
            result.append(
                Instance(
                    name=component.name if node is None else f"{component.name}-{node}",
                    argv=[*component.argv(settings, state, node), *extra_args(component.name)],
                    health_url=health_url,
                    ready_timeout=component.ready_timeout(settings),
                    ca_file=_ca_file(settings, component.name, health_url),
                    client_cert=_client_cert(settings, component.name),
                    together=component.start_together and node is not None,
                )
            )
    return result


def cleanups(settings: LauncherSettings, state: ClusterState | None) -> list[list[str]]:
    """The cleanup commands `down` runs once everything is stopped, latest component first."""
    cluster = state or ClusterState()
    return [c.cleanup(settings, cluster, None) for c in reversed(COMPONENTS)
            if c.enabled and c.cleanup is not None]  # fmt: skip


def _ca_file(settings: LauncherSettings, component: str, url: str | None) -> Path | None:
    if url is None or not url.startswith("https://"):
        return None
    if component == "etcd":
        return pki.etcd(settings.pki_dir).ca_cert
    return Pki(settings.pki_dir).ca_cert


def _client_cert(settings: LauncherSettings, component: str) -> tuple[Path, Path] | None:
    """etcd's health URL answers only a client with a certificate: the launcher shows the
    apiserver's (it made them; nothing else on the machine has one)."""
    if component != "etcd":
        return None
    certs = pki.etcd(settings.pki_dir)
    return certs.apiserver_client_cert, certs.apiserver_client_key


def ensure_credentials(settings: LauncherSettings, state: ClusterState) -> None:
    """Every enabled component's certificate and kubeconfig (and kubelets' serving ones)."""
    for component in COMPONENTS:
        if not component.enabled or component.identity is None:
            continue
        nodes = [None] if component.per_node in REPLICATED else replicas(component, state)
        for node in nodes:
            identities.ensure_component(settings, state.apiserver_url, component.identity, node)
            if component.identity == "kubelet" and node is not None:
                identities.ensure_kubelet_serving(settings, node, LOOPBACK)


def disabled() -> list[Component]:
    """Components not started yet, with the issue that brings them."""
    return [c for c in COMPONENTS if not c.enabled]


def stop_rank(name: str) -> int:
    """Sort key for `down`: later components (and unknown names) stop first."""
    for rank, component in enumerate(COMPONENTS):
        if name == component.name or name.startswith(f"{component.name}-"):
            return -rank
    return -len(COMPONENTS)
