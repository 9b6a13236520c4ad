"""The nodeipam controller in a real controller-manager: each node gets its own podCIDR."""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path

from tests.support.api import Api
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

CLUSTER_CIDR = "10.99.0.0/16"


def test_nodes_get_distinct_pod_cidrs_that_stay(
    api: Api, apiserver: Apiserver, tmp_path: Path
) -> None:
    cm = ControllerManager(
        apiserver.write_kubeconfig(tmp_path / "kubeconfig"),
        tmp_path / "cm.log",
        extra_args=[
            "--leader-elect=false",
            "--controllers=nodeipam",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={CLUSTER_CIDR}",
            "--node-cidr-mask-size=24",
        ],
    )
    names = [f"ipam-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    cm.start()
    try:
        for name in names:
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
            assert api.post("/api/v1/nodes", node).status_code == 201

        def cidrs() -> dict[str, str] | None:
            got = {n: api.get(f"/api/v1/nodes/{n}").json()["spec"].get("podCIDR") for n in names}
            return got if all(got.values()) else None

        allocated = wait_for(cidrs, "a podCIDR on each new node", 20, 0.2)
        assert len(set(allocated.values())) == 3
        for cidr in allocated.values():
            network = ipaddress.ip_network(cidr)
            assert network.prefixlen == 24 and network.subnet_of(ipaddress.ip_network(CLUSTER_CIDR))
        for name in names:
            spec = api.get(f"/api/v1/nodes/{name}").json()["spec"]
            assert spec["podCIDRs"] == [spec["podCIDR"]]
    finally:
        assert cm.stop() == 0
        for name in names:
            api.delete(f"/api/v1/nodes/{name}")
