"""`minik8s join`: make this machine a node of a running cluster, knowing only its endpoint, a
bootstrap token and the CA's hash (kubeadm's join for a worker, or a k3s agent).

1. discovery (`discovery.py`): the cluster's endpoint and CA, trusted;
2. `<home>/pki/ca.crt` and `<home>/bootstrap-kubelet.conf` (the token; mode 0600);
3. kube-proxy's client certificate: a CSR for `system:kube-proxy` (signer
   kube-apiserver-client) made with the token and approved by the controller-manager's
   `csrapproving`, written into `<home>/kubeconfigs/proxy.conf`;
4. unless `--no-start`: the kubelet (`--bootstrap-kubeconfig`: it requests its own client
   certificate, then rotates it and its serving certificate), kube-proxy and the pod network's
   agent (`--pod-network host-gw`: `minik8s.hostgw`, with kube-proxy's credential), as
   background processes of `<home>` (`minik8s down --home <home>` stops them), then waits for
   the Node to be Ready.

With `host-gw` the kubelet takes its pods' subnet from the Node's `spec.podCIDR`
(`--pod-subnet-from-node`): the controller-manager must allocate them (`--allocate-node-cidrs`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from minik8s import pki
from minik8s.api import certificates, errors
from minik8s.api.meta import name_of
from minik8s.api.resources import CERTIFICATESIGNINGREQUESTS, NODES
from minik8s.api.users import KUBE_PROXY
from minik8s.cli.bootstrap import discovery, proxyconfig
from minik8s.cli.launcher import processes
from minik8s.cli.launcher.components import Instance
from minik8s.cli.launcher.errors import LauncherError
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.client import (
    ApiClient,
    ClientConfig,
    ConfigError,
    kubeconfig_document,
    load_kubeconfig,
)

logger = logging.getLogger(__name__)


HOST_GW = "host-gw"
POD_NETWORKS = (HOST_GW, "none")


@dataclass(frozen=True)
class JoinOptions:
    endpoint: str
    token: str
    ca_hashes: list[str]
    node_name: str
    node_ip: str
    home: Path
    runtime: str = "docker"
    """`docker` runs pods; `fake` is a hollow node (tests, scale)."""
    kubelet_port: int = 10250
    start: bool = True
    proxy: bool = True
    """Run kube-proxy (it programs this machine's iptables)."""
    extra_kubelet_args: tuple[str, ...] = ()
    extra_proxy_args: tuple[str, ...] = ()
    """More kube-proxy flags (k3s agent's `--kube-proxy-arg`), e.g. the cluster's
    `--cluster-cidr`, which joining does not learn."""
    pod_network: str = HOST_GW
    """`host-gw` (routes to the other nodes' pod CIDRs, flannel's backend name) or `none`."""
    discovery_timeout: float = 120.0
    ready_timeout: float = 120.0


@dataclass
class NodeFiles:
    home: Path
    proxy_args: tuple[str, ...] = ()
    """kube-proxy flags learned from the cluster (`--cluster-cidr` from kubeadm's
    `kube-system/kube-proxy` ConfigMap, when it is published and readable with the token)."""

    @property
    def ca(self) -> Path:
        return self.home / "pki" / "ca.crt"

    @property
    def cert_dir(self) -> Path:
        return self.home / "pki"

    @property
    def bootstrap_kubeconfig(self) -> Path:
        return self.home / "bootstrap-kubelet.conf"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.home / "kubelet.conf"

    @property
    def proxy_kubeconfig(self) -> Path:
        return self.home / "kubeconfigs" / "proxy.conf"


def kubeconfig(server: str, ca_pem: bytes, user: str, credentials: dict[str, str]) -> str:
    return yaml.safe_dump(kubeconfig_document(server, ca_pem, user, credentials), sort_keys=False)


async def proxy_certificate(config: ClientConfig, timeout: float) -> tuple[bytes, bytes]:
    """kube-proxy's certificate and key, through a CSR made with the bootstrap token."""
    request, key = await asyncio.to_thread(pki.new_certificate_request, KUBE_PROXY)
    async with ApiClient(config) as client:
        csr = await client.create(
            CERTIFICATESIGNINGREQUESTS,
            {
                "metadata": {"generateName": "csr-"},
                "spec": {
                    "request": base64.b64encode(request).decode(),
                    "signerName": certificates.KUBE_APISERVER_CLIENT,
                    "usages": ["digital signature", "client auth"],
                },
            },
        )
        name = name_of(csr)
        deadline = time.monotonic() + timeout
        while True:
            csr = await client.get(CERTIFICATESIGNINGREQUESTS, name)
            issued = (csr.get("status") or {}).get("certificate")
            if issued:
                return base64.b64decode(issued), key
            refused = [
                c for c in certificates.conditions(csr) if c.get("type") in ("Denied", "Failed")
            ]
            if refused or time.monotonic() > deadline:
                why = refused[0].get("message") if refused else f"not issued within {timeout:.0f}s"
                raise LauncherError(f"kube-proxy's certificate (csr {name}): {why}")
            await asyncio.sleep(0.25)


async def prepare(options: JoinOptions, console: Console) -> NodeFiles:
    """Steps 1-3: the node's files."""
    files = NodeFiles(options.home)
    try:
        info = await discovery.discover(
            options.endpoint,
            options.token,
            options.ca_hashes,
            options.discovery_timeout,
            on_retry=lambda line: console.print(f"discovery: {line}", highlight=False),
        )
    except discovery.DiscoveryFailed as e:
        raise LauncherError(f"discovery: {e}") from e
    console.print(f"[green]✓[/] trusted the cluster at {info.server} (CA {options.ca_hashes[0]})")
    pki.write_private(files.ca, info.ca_pem)
    pki.write_private(
        files.bootstrap_kubeconfig,
        kubeconfig(info.server, info.ca_pem, "tls-bootstrap-token-user", {"token": options.token}),
    )
    bootstrap = ClientConfig(
        server=info.server, certificate_authority_data=info.ca_pem, token=options.token
    )
    if options.proxy and not any(a.startswith("--cluster-cidr") for a in options.extra_proxy_args):
        async with ApiClient(bootstrap) as client:
            cidr = await proxyconfig.read(client)
        if cidr:
            files.proxy_args = (f"--cluster-cidr={cidr}",)
            console.print(f"[green]✓[/] the cluster's pod range: {cidr} (kube-system/kube-proxy)")
    if options.proxy or options.pod_network == HOST_GW:  # the agent uses kube-proxy's identity
        cert, key = await proxy_certificate(bootstrap, options.discovery_timeout)
        pki.write_private(
            files.proxy_kubeconfig,
            kubeconfig(
                info.server,
                info.ca_pem,
                KUBE_PROXY,
                {
                    "client-certificate-data": base64.b64encode(cert).decode(),
                    "client-key-data": base64.b64encode(key).decode(),
                },
            ),
        )
        console.print("[green]✓[/] kube-proxy's certificate issued")
    return files


def instances(options: JoinOptions, files: NodeFiles, settings: LauncherSettings) -> list[Instance]:
    python = [sys.executable, "-m"]
    kubelet = [
        *python, "minik8s.kubelet.server",
        f"--node-name={options.node_name}",
        f"--node-ip={options.node_ip}",
        f"--port={options.kubelet_port}",
        f"--runtime={options.runtime}",
        f"--bootstrap-kubeconfig={files.bootstrap_kubeconfig}",
        f"--kubeconfig={files.kubelet_kubeconfig}",
        f"--cert-dir={files.cert_dir}",
        "--rotate-certificates",
        "--rotate-server-certificates",
        f"--client-ca-file={files.ca}",
        "--authentication-token-webhook",
        "--authorization-mode=Webhook",
        "--anonymous-auth=false",
        f"--root-dir={options.home / 'kubelet'}",
        *(["--pod-subnet-from-node"] if options.pod_network == HOST_GW else []),
        *options.extra_kubelet_args,
    ]  # fmt: skip
    found = [
        Instance(f"kubelet-{options.node_name}", kubelet, None, settings.component_ready_timeout)
    ]
    if options.proxy:
        proxy = [
            *python, "minik8s.proxy.server",
            f"--kubeconfig={files.proxy_kubeconfig}",
            f"--node-name={options.node_name}",
            f"--state-file={settings.run_dir / 'proxy-state.json'}",
            f"--lock-file={settings.run_dir / 'proxy.lock'}",
            *files.proxy_args,
            *options.extra_proxy_args,
        ]  # fmt: skip
        found.append(Instance("proxy", proxy, None, settings.component_ready_timeout))
    if options.pod_network == HOST_GW:
        hostgw = [
            *python, "minik8s.hostgw.server",
            f"--kubeconfig={files.proxy_kubeconfig}",
            f"--node-name={options.node_name}",
        ]  # fmt: skip
        found.append(Instance("hostgw", hostgw, None, settings.component_ready_timeout))
    return found


def start(options: JoinOptions, files: NodeFiles, console: Console) -> None:
    """Step 4: the node's processes, then its Node Ready."""
    settings = LauncherSettings(home=options.home)
    for directory in (settings.logs_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for instance in instances(options, files, settings):
        running = processes.find(settings, instance.name)
        if running is not None:
            console.print(f"{instance.name} already runs (pid {running.pid})")
            continue
        popen = processes.start(settings, instance)
        processes.wait_ready(settings, instance, lambda p=popen: p.poll() is None)  # type: ignore[misc]
        console.print(f"[green]✓[/] started {instance.name} (pid {popen.pid})")
    asyncio.run(wait_ready(options, files))
    console.print(f"[green]✓[/] node {options.node_name} is Ready")


async def wait_ready(options: JoinOptions, files: NodeFiles) -> None:
    deadline = time.monotonic() + options.ready_timeout
    node: dict | None = None
    while time.monotonic() < deadline:
        try:
            config = load_kubeconfig(files.kubelet_kubeconfig)
            async with ApiClient(config) as client:
                node = await client.get(NODES, options.node_name)
            conditions = (node.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                return
        except (ConfigError, OSError, errors.ApiError):
            pass
        await asyncio.sleep(0.5)
    if (
        node is not None
        and options.pod_network == HOST_GW
        and not (node.get("spec") or {}).get("podCIDR")
    ):
        raise LauncherError(
            f"node {options.node_name} has no spec.podCIDR after {options.ready_timeout:.0f}s: "
            "the controller-manager must run nodeipam (--allocate-node-cidrs --cluster-cidr), "
            "or join with --pod-network none"
        )
    raise LauncherError(
        f"node {options.node_name} not Ready after {options.ready_timeout:.0f}s "
        f"(see {options.home / 'logs'})"
    )


def join(options: JoinOptions, console: Console) -> NodeFiles:
    files = asyncio.run(prepare(options, console))
    if options.start:
        start(options, files, console)
    else:
        console.print(
            f"node files in {options.home}: start the kubelet with "
            f"--bootstrap-kubeconfig={files.bootstrap_kubeconfig} "
            f"--kubeconfig={files.kubelet_kubeconfig} --cert-dir={files.cert_dir}"
            + (
                f"; the pod network with minik8s-hostgw --kubeconfig={files.proxy_kubeconfig} "
                f"--node-name={options.node_name}"
                if options.pod_network == HOST_GW
                else ""
            )
        )
    return files
