"""Removing a cluster's pod containers on `down`, and only that cluster's.

Every container a kubelet creates carries `minik8s.cluster=<uid of kube-system>`; `down` asks
the apiserver for that uid while it still runs, then removes exactly those containers with
the docker CLI once the kubelets have stopped (so none restarts them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from minik8s.cli.launcher import apirequests
from minik8s.cli.launcher.settings import LauncherSettings
from minik8s.kubelet import tmpfs

CLUSTER_LABEL = "minik8s.cluster"


def cluster_id(settings: LauncherSettings) -> str | None:
    """The uid of the cluster's kube-system namespace, or None if the apiserver is not up."""
    namespace = apirequests.api_get(settings, "/api/v1/namespaces/kube-system")
    return None if namespace is None else str(namespace["metadata"]["uid"])


def remove_containers(uid: str, timeout: float = 60.0) -> int:
    """Force-remove every container labelled with this cluster; how many there were."""
    docker = shutil.which("docker")
    if docker is None:
        return 0
    listed = subprocess.run(
        [docker, "ps", "-aq", "--filter", f"label={CLUSTER_LABEL}={uid}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    ids = listed.stdout.split()
    if ids:
        subprocess.run(
            [docker, "rm", "-f", *ids], capture_output=True, timeout=timeout, check=False
        )
    return len(ids)


UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"


def nodes_ready(settings: LauncherSettings, names: list[str]) -> list[str]:
    """Those of `names` whose Node reports Ready=True now and that the cloud controller has
    initialized (no pod is scheduled to a node before)."""
    nodes = apirequests.api_get(settings, "/api/v1/nodes")
    if nodes is None:
        return []
    ready = {
        node["metadata"]["name"]
        for node in nodes.get("items", [])
        for condition in (node.get("status") or {}).get("conditions") or []
        if condition.get("type") == "Ready"
        and condition.get("status") == "True"
        and not any(
            t.get("key") == UNINITIALIZED_TAINT
            for t in (node.get("spec") or {}).get("taints") or []
        )
    }
    return [name for name in names if name in ready]


def still_mounted(kubelet_root: Path) -> list[Path]:
    """Mounts left below the kubelet's root (a pinned subPath of a hostPath, say): deleting
    through them would delete what they show."""
    return tmpfs.mount_points(kubelet_root) if kubelet_root.exists() else []


def unmount_volumes(kubelet_root: Path) -> int:
    """Unmount the tmpfs of the pods' secret and token volumes the stopped kubelets leave (their
    containers are gone); how many there were."""
    mounted = len(tmpfs.mount_points(kubelet_root)) if kubelet_root.exists() else 0
    if mounted:
        tmpfs.unmount_all(kubelet_root)
    return mounted
