"""A `minik8s up` cluster that another machine joins (`--control-plane-endpoint`), for real.

The launcher runs as a user runs it (its own home and ports, no Docker node: `--nodes 0`),
first without an endpoint (the apiserver listens on loopback and the pods' gateway only), then
again with an address of a bridge the test made: the apiserver is restarted to listen there
too (never on 0.0.0.0), its certificate names it, `cluster-info` points at it. A "machine" (a
network namespace on that bridge) runs the exact `minik8s join` line `minik8s token create
--print-join-command` printed, with a hollow kubelet: it learns the pods' range from the
`kube-proxy` ConfigMap, the Node is Ready with a podCIDR from the controller-manager, its
kubelet's CSR was approved, and a pod bound to it runs.

Needs root (`ip netns`, iptables): run under the shared lock (`flock /tmp/minik8s-e2e.lock`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from minik8s.cli.launcher import network
from tests.support import netns
from tests.support.launcher import LAUNCHER, make_launcher
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ss") is None,
        reason="needs root, iproute2 and ss",
    ),
]

NODE = "remote-1"


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


def test_a_machine_on_the_network_joins_the_launchers_cluster(tmp_path: Path) -> None:
    subnet = netns.free_subnet("10.253", range(200, 250))
    gateway = f"{subnet}.1"
    bridge = f"mk8ep{uuid.uuid4().hex[:6]}"
    netns.create_bridge(bridge, f"{gateway}/24")
    launcher = make_launcher(tmp_path / "home")
    port = int(launcher.env["MINIK8S_APISERVER_PORT"])
    machine: netns.Namespace | None = None
    node_home = tmp_path / "machine"
    try:
        # 1. No endpoint: the apiserver listens on loopback (and the pods' gateway) only.
        launcher.up("--nodes", "0")
        allowed = {"127.0.0.1", network.pod_gateway()}
        assert listening(launcher.pids()["apiserver"]) <= allowed

        # 2. With one: restarted, listening there too, named by its certificate, remembered.
        up = launcher.up("--nodes", "0", "--control-plane-endpoint", gateway)
        assert f"cluster-info names https://{gateway}:{port}" in up.stdout, up.stdout
        assert listening(launcher.pids()["apiserver"]) == {"127.0.0.1", gateway}
        assert gateway in served_names(gateway, port)
        remembered = json.loads((launcher.home / "cluster.json").read_text())
        assert remembered["control_plane_endpoint"] == gateway

        # 3. The join line names the endpoint; a machine on the bridge runs it as printed.
        created = launcher.run("token", "create", "--ttl", "10m", "--print-join-command")
        assert created.returncode == 0, created.stderr
        line = created.stdout.strip()
        assert re.fullmatch(
            rf"minik8s join https://{re.escape(gateway)}:{port} --token \S+ "
            r"--discovery-token-ca-cert-hash sha256:[0-9a-f]{64}",
            line,
        ), line
        machine = netns.create_on_bridge("mk8ep", bridge, f"{subnet}.10/24", gateway)
        joined = subprocess.run(
            ["ip", "netns", "exec", machine.name, *LAUNCHER, *line.split()[1:],
             "--runtime", "fake", "--node-name", NODE, "--home", str(node_home)],
            capture_output=True, text=True, timeout=120, check=False, env=launcher.env,
        )  # fmt: skip
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"node {NODE} is Ready" in joined.stdout, joined.stdout
        assert f"the cluster's pod range: {network.POD_SUBNET}" in joined.stdout, joined.stdout

        # 4. Its Node has a podCIDR, its CSR was approved, a pod bound to it runs.
        node = json.loads(launcher.kubectl("get", "node", NODE, "-o", "json").stdout)
        assert {"type": "InternalIP", "address": machine.ip} in node["status"]["addresses"]
        pod_cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        assert pod_cidr.subnet_of(ipaddress.ip_network(network.POD_SUBNET))
        csrs = json.loads(launcher.kubectl("get", "csr", "-o", "json").stdout)["items"]
        kubelet = [
            c for c in csrs
            if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
            and c["spec"]["username"].startswith("system:bootstrap:")
        ]  # fmt: skip
        assert kubelet, csrs
        conditions = {c["type"] for c in kubelet[0]["status"].get("conditions") or []}
        assert "Approved" in conditions and kubelet[0]["status"].get("certificate")
        overrides = json.dumps({"spec": {"nodeName": NODE}})
        ran = launcher.kubectl("run", "on-remote", "--image=busybox", "--restart=Never",
                               f"--overrides={overrides}", "--", "sleep", "3600")  # fmt: skip
        assert ran.returncode == 0, ran.stderr

        def phase() -> str:
            got = launcher.kubectl("get", "pod", "on-remote", "-o", "jsonpath={.status.phase}")
            return got.stdout.strip()

        wait_for(lambda: phase() == "Running", f"the pod bound to {NODE} to run", timeout=30)
    finally:
        if node_home.exists():
            subprocess.run([*LAUNCHER, "down", "--home", str(node_home)], capture_output=True,
                           timeout=60, check=False, env=launcher.env)  # fmt: skip
        if machine is not None:
            netns.vanish(machine)
        try:
            launcher.teardown()
        finally:
            launcher.run("down", "--purge")
            netns.sh("ip", "link", "del", bridge, check=False)
