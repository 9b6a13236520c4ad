"""The cloud node controllers in a real cloud controller manager (local provider): a node
registered with the uninitialized taint is initialized and untainted; health, metrics, leader
election and a clean SIGTERM. (Load balancers change the host's routes: tests/e2e/test_cloud.)"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from tests.support.api import Api
from tests.support.cloud import CloudControllerManager
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for

UNINITIALIZED = {"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true",
                 "effect": "NoSchedule"}  # fmt: skip


def test_a_node_registered_for_an_external_cloud_is_initialized(
    api: Api, apiserver: Apiserver, tmp_path: Path
) -> None:
    lease = f"ccm-{uuid.uuid4().hex[:6]}"
    ccm = CloudControllerManager(
        apiserver.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "ccm.log",
        ["--cloud-provider=local", "--controllers=cloud-node,cloud-node-lifecycle",
         f"--leader-elect-resource-name={lease}", "--node-monitor-period=0.5s"],
    )  # fmt: skip
    name = f"cloud-{uuid.uuid4().hex[:6]}"
    other = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "annotations": {"alpha.kubernetes.io/provided-node-ip": "127.0.0.1"}},
            "spec": {"taints": [UNINITIALIZED, other]}}  # fmt: skip
    ccm.start()
    try:
        assert ccm.status("/healthz") == 200
        holder = api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
        assert holder.status_code == 200 and holder.json()["spec"]["holderIdentity"]
        assert api.post("/api/v1/nodes", node).status_code == 201

        def initialized() -> dict | None:
            got = api.get(f"/api/v1/nodes/{name}").json()
            return got if got["spec"].get("providerID") else None

        done = wait_for(initialized, f"node {name} initialized by the cloud", 20, 0.1)
        assert done["spec"]["providerID"] == f"local://{socket.gethostname()}/{name}"
        assert done["spec"]["taints"] == [other]  # only the cloud's taint went

        def addressed() -> list | None:
            return api.get(f"/api/v1/nodes/{name}").json()["status"].get("addresses")

        assert wait_for(addressed, "the cloud's addresses", 10, 0.1) == [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": name},
        ]

        def synced() -> list:
            path = f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={name}"
            return [e for e in api.get(path).json()["items"] if e["reason"] == "Synced"]

        event = wait_for(synced, "the Synced event", 10, 0.1)[0]
        assert event["source"]["component"] == "cloud-node-controller"
        assert event["message"] == "Node synced successfully"
        assert ccm.metric("process_cpu_seconds_total")
    finally:
        assert ccm.stop() == 0, ccm.process.log_tail() if ccm.process else ""
        api.delete(f"/api/v1/nodes/{name}")
    released = api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
    assert not released.json()["spec"].get("holderIdentity")  # handed over at once
