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

import json
import os
import shutil
from pathlib import Path

import pytest

from minik8s.cli.launcher import network
from tests.support import joining
from tests.support.joining import listening, served_names

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ss") is None,
        reason="needs root, iproute2 and ss",
    ),
]

NODE = "remote-1"


def test_a_machine_on_the_network_joins_the_launchers_cluster(tmp_path: Path) -> None:
    with joining.launcher_on_lan(tmp_path, "mk8ep") as (launcher, port, lan, node_home):
        gateway = lan.gateway
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
        line = joining.join_line(launcher, f"{gateway}:{port}")
        with joining.machine(launcher, lan, node_home) as machine:
            joining.join(launcher, machine, line, NODE, node_home)

            # 4. Its Node has a podCIDR, its CSR was approved, a pod bound to it runs.
            joining.assert_joined(launcher, NODE, machine.ip)
            joining.pod_runs_on(launcher, "on-remote", NODE)
