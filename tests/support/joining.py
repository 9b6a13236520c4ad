"""Another "machine" joining a `minik8s up` cluster for real (`--control-plane-endpoint`): a
bridge of the test's own (the LAN), a network namespace on it (the machine) running the
printed `minik8s join` line with a hollow kubelet, and the checks that it joined: its Node has
a podCIDR, its kubelet's CSR was approved, pods bound to it run. Needs root (`ip netns`)."""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography import x509

from minik8s.cli.launcher import network
from tests.support import netns
from tests.support.launcher import LAUNCHER, Launcher, make_launcher
from tests.support.waiting import wait_for


def listening(pid: int) -> set[str]:
    """The addresses process `pid` accepts TCP connections on (`ss`, as the kernel says)."""
    found = set()
    for line in netns.sh("ss", "-Hltnp").splitlines():
        fields = line.split()
        if len(fields) >= 6 and f"pid={pid}," in fields[-1]:
            found.add(fields[3].rsplit(":", 1)[0].strip("[]"))
    return found


def served_names(host: str, port: int) -> set[str]:
    """The IP SANs of the certificate served at host:port."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    pem = ssl.get_server_certificate((host, port))
    cert = x509.load_pem_x509_certificate(pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


@dataclass(frozen=True)
class Lan:
    subnet: str
    """`a.b.c` of its /24."""
    bridge: str

    @property
    def gateway(self) -> str:
        """The host's address on it: the control-plane endpoint."""
        return f"{self.subnet}.1"


@contextmanager
def lan(prefix: str) -> Iterator[Lan]:
    """A bridge on a /24 no route of this host covers, the host on `.1`; deleted after."""
    subnet = netns.free_subnet("10.253", range(200, 250))
    found = Lan(subnet, f"{prefix}{uuid.uuid4().hex[:6]}")
    netns.create_bridge(found.bridge, f"{found.gateway}/24")
    try:
        yield found
    finally:
        netns.sh("ip", "link", "del", found.bridge, check=False)


class Setup(NamedTuple):
    """A launcher of the test's own and a LAN for the machine that joins its cluster."""

    launcher: Launcher
    port: int
    """The apiserver's port (HAProxy's with several control-plane members): the endpoint's."""
    lan: Lan
    node_home: Path
    """Where the machine joins (`minik8s join --home`)."""


@contextmanager
def launcher_on_lan(tmp_path: Path, prefix: str) -> Iterator[Setup]:
    """A launcher (its home and ports under `tmp_path`) and a LAN (bridge `prefix…`); after,
    its cluster torn down and purged, then the bridge deleted."""
    launcher = make_launcher(tmp_path / "home")
    port = int(launcher.env["MINIK8S_APISERVER_PORT"])
    with lan(prefix) as found:
        try:
            yield Setup(launcher, port, found, tmp_path / "machine")
        finally:
            try:
                launcher.teardown()
            finally:
                launcher.run("down", "--purge")


def join_line(launcher: Launcher, endpoint: str) -> str:
    """`minik8s token create --print-join-command`'s line, checked to name `endpoint`."""
    created = launcher.run("token", "create", "--ttl", "10m", "--print-join-command")
    assert created.returncode == 0, created.stderr
    line = created.stdout.strip()
    assert re.fullmatch(
        rf"minik8s join https://{re.escape(endpoint)} --token \S+ "
        r"--discovery-token-ca-cert-hash sha256:[0-9a-f]{64}",
        line,
    ), line
    return line


@contextmanager
def machine(launcher: Launcher, on: Lan, home: Path) -> Iterator[netns.Namespace]:
    """A namespace on `on` at `.10` (a machine on the LAN); afterwards its `minik8s down`
    (`home`: where it joined), then every process in it killed and the namespace deleted."""
    namespace = netns.create_on_bridge(on.bridge[:5], on.bridge, f"{on.subnet}.10/24", on.gateway)
    try:
        yield namespace
    finally:
        try:
            if home.exists():
                subprocess.run([*LAUNCHER, "down", "--home", str(home)], capture_output=True,
                               timeout=60, check=False, env=launcher.env)  # fmt: skip
        finally:
            netns.vanish(namespace)


def join(launcher: Launcher, namespace: netns.Namespace, line: str, node: str, home: Path) -> None:
    """Run the printed join line in `namespace` with a hollow kubelet (`--runtime fake`); it
    returns once the Node is Ready."""
    joined = subprocess.run(
        ["ip", "netns", "exec", namespace.name, *LAUNCHER, *line.split()[1:],
         "--runtime", "fake", "--node-name", node, "--home", str(home)],
        capture_output=True, text=True, timeout=120, check=False, env=launcher.env,
    )  # fmt: skip
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert f"node {node} is Ready" in joined.stdout, joined.stdout
    assert f"the cluster's pod range: {network.POD_SUBNET}" in joined.stdout, joined.stdout


def assert_joined(launcher: Launcher, node: str, address: str) -> None:
    """The Node has `address` as InternalIP and a podCIDR of the pods' range; its kubelet's
    bootstrap CSR was approved and issued."""
    found = json.loads(launcher.kubectl("get", "node", node, "-o", "json").stdout)
    assert {"type": "InternalIP", "address": address} in found["status"]["addresses"]
    pod_cidr = ipaddress.IPv4Network(found["spec"]["podCIDR"])
    assert pod_cidr.subnet_of(ipaddress.IPv4Network(network.POD_SUBNET))
    csrs = json.loads(launcher.kubectl("get", "csr", "-o", "json").stdout)["items"]
    kubelet = [
        c for c in csrs
        if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
        and c["spec"]["username"].startswith("system:bootstrap:")
    ]  # fmt: skip
    assert kubelet, csrs
    conditions = {c["type"] for c in kubelet[0]["status"].get("conditions") or []}
    assert "Approved" in conditions and kubelet[0]["status"].get("certificate")


def pod_runs_on(launcher: Launcher, name: str, node: str, timeout: float = 30) -> None:
    """A pod bound to `node` (no scheduler involved) reaches Running."""
    overrides = json.dumps({"spec": {"nodeName": node}})
    ran = launcher.kubectl("run", name, "--image=busybox", "--restart=Never",
                           f"--overrides={overrides}", "--", "sleep", "3600")  # fmt: skip
    assert ran.returncode == 0, ran.stderr

    def phase() -> str:
        got = launcher.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
        return got.stdout.strip()

    wait_for(lambda: phase() == "Running", f"the pod {name} bound to {node} to run", timeout)
