"""kubectl v1.32 and the official Python client as judges of DaemonSets, StatefulSets and
local-path storage on the `minik8s up --nodes 2` cluster (real Docker kubelets): a
StatefulSet's data survives its pod's deletion and a kubelet killed while it writes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.conformance.conftest import Kubectl
from tests.support.launcher import Launcher, alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.conformance

BUSYBOX = "minik8s/busybox:latest"
WRITER = "trap 'exit 0' TERM; while true; do date +%s >> /data/log; sleep 0.2; done"


def apply(kubectl: Kubectl, path: Path, *docs: dict[str, Any]) -> None:
    path.write_text("\n---\n".join(yaml.safe_dump(d) for d in docs))
    kubectl("apply", "-f", str(path))


def web() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "serviceName": "web",
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "containers": [
                            {
                                "name": "c",
                                "image": BUSYBOX,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", WRITER],
                                "volumeMounts": [{"name": "www", "mountPath": "/data"}],
                            }
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "www"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Mi"}},
                        },
                    }
                ],
            },
        },
    ]


def lines_in(kubectl: Kubectl, pod: str) -> list[str]:
    result = kubectl("exec", pod, "--", "cat", "/data/log", check=False)
    return result.stdout.split() if result.returncode == 0 else []


def pod_json(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return dict(json.loads(kubectl("get", "pod", name, "-o", "json").stdout))


def test_statefulset_keeps_its_data(
    cluster: Launcher, kubectl: Kubectl, ns: str, tmp_path: Path
) -> None:
    apply(kubectl, tmp_path / "web.yaml", *web())
    kubectl("rollout", "status", "sts/web", "--timeout=90s", timeout=100)
    claims = kubectl("get", "pvc", "--no-headers").stdout
    assert "www-web-0" in claims and "www-web-1" in claims and "Bound" in claims
    assert "local-path" in kubectl("get", "sc", "--no-headers").stdout
    first = pod_json(kubectl, "web-0")
    node, uid = first["spec"]["nodeName"], first["metadata"]["uid"]
    assert first["spec"]["hostname"] == "web-0" and first["spec"]["subdomain"] == "web"
    before = wait_for(lambda: lines_in(kubectl, "web-0"), "web-0 writing to its volume")

    # the kubelet of web-0's node killed while it writes: the pod keeps its data (and runs on)
    kubelet = next(pid for name, pid in cluster.pids().items() if name.endswith(node))
    os.kill(kubelet, signal.SIGKILL)
    wait_for(lambda: not alive(kubelet), "the kubelet to die")
    cluster.up("--nodes", "2")
    wait_for(lambda: len(lines_in(kubectl, "web-0")) > len(before) + 3, "web-0 still writing")
    assert pod_json(kubectl, "web-0")["metadata"]["uid"] == uid

    # deleted and re-created: same name, same node (the volume's affinity), same data
    kubectl("delete", "pod", "web-0", "--wait=true", timeout=60)
    kubectl("wait", "--for=condition=Ready", "pod/web-0", "--timeout=60s", timeout=70)
    again = pod_json(kubectl, "web-0")
    assert again["metadata"]["uid"] != uid and again["spec"]["nodeName"] == node
    after = wait_for(lambda: lines_in(kubectl, "web-0"), "web-0 reading its volume")
    assert after[: len(before)] == before

    history = kubectl("rollout", "history", "sts/web").stdout
    assert "REVISION" in history and "1 " in history

    # scaled down, web-1's claim stays (Retain); deleted, its Delete-policy volume and data go
    kubectl("scale", "sts/web", "--replicas=1")
    wait_for(lambda: kubectl("get", "pod", "web-1", check=False).returncode != 0, "web-1 gone",
             timeout=30)  # fmt: skip
    claim = json.loads(kubectl("get", "pvc", "www-web-1", "-o", "json").stdout)
    volume = claim["spec"]["volumeName"]
    pv = json.loads(kubectl("get", "pv", volume, "-o", "json").stdout)
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.is_dir() and directory.is_relative_to(cluster.home / "storage")
    kubectl("delete", "pvc", "www-web-1", "--wait=true", timeout=60)
    wait_for(lambda: kubectl("get", "pv", volume, check=False).returncode != 0,
             "the released volume deleted", timeout=60)  # fmt: skip
    assert not directory.exists(), "its data removed by the helper pod"

    api = config.new_client_from_config(str(cluster.kubeconfig))
    try:
        sts = client.AppsV1Api(api).read_namespaced_stateful_set("web", ns)
        assert sts.status.ready_replicas == 1 and sts.status.current_revision
        revisions = client.AppsV1Api(api).list_namespaced_controller_revision(ns)
        assert [r.revision for r in revisions.items] == [1]
        claims_list = client.CoreV1Api(api).list_namespaced_persistent_volume_claim(ns)
        volumes = {c.spec.volume_name for c in claims_list.items}
        pvs = client.CoreV1Api(api).list_persistent_volume()
        bound = [pv for pv in pvs.items if pv.metadata.name in volumes]
        assert len(bound) == 1 and all(pv.status.phase == "Bound" for pv in bound)
        sc = client.StorageV1Api(api).read_storage_class("local-path")
        assert sc.volume_binding_mode == "WaitForFirstConsumer"
    finally:
        api.close()


def agent() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "c",
                            "image": BUSYBOX,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", WRITER.replace("/data/log", "/tmp/log")],
                        }
                    ],
                },
            },
        },
    }


def test_daemonset_rollout_history_and_undo(
    cluster: Launcher, kubectl: Kubectl, ns: str, tmp_path: Path
) -> None:
    apply(kubectl, tmp_path / "agent.yaml", agent())
    status = kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70).stdout
    assert 'daemon set "agent" successfully rolled out' in status
    pods = json.loads(kubectl("get", "pods", "-l", "app=agent", "-o", "json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2"]
    kubectl("set", "env", "ds/agent", "ROUND=2")
    kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70)
    history = kubectl("rollout", "history", "ds/agent").stdout.split("\n")
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"]
    assert "rolled back" in kubectl("rollout", "undo", "ds/agent").stdout
    kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=70)
    env = json.loads(kubectl("get", "ds", "agent", "-o", "json").stdout)
    assert "env" not in env["spec"]["template"]["spec"]["containers"][0]
    wide = kubectl("get", "ds", "agent", "--no-headers").stdout.split()
    assert wide[1:6] == ["2", "2", "2", "2", "2"]  # desired current ready up-to-date available

    api = config.new_client_from_config(str(cluster.kubeconfig))
    try:
        ds = client.AppsV1Api(api).read_namespaced_daemon_set("agent", ns)
        assert ds.status.number_available == 2 and ds.status.observed_generation == 3
    finally:
        api.close()
