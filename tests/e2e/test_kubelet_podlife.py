"""The pod lifecycle on a real kubelet and dockerd: init containers in order and sidecars
beside the app, lifecycle hooks (postStart, preStop, a failing postStart), the final phase
of a deleted pod, termination messages, configMap volumes updated in place, and kubectl's
STATUS column for initializing pods. One kubelet for the module."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.kubelet_support import (
    Pod,
    busybox,
    container_status,
    create,
    get,
    kubectl,
    pod,
    requires_docker,
    running,
    wait_pod,
)
from tests.support.api import Api
from tests.support.kubelet import Kubelet
from tests.support.waiting import wait_for

pytestmark = [requires_docker]
KEEP = "podlife.minik8s.io/keep"
"""A finalizer that keeps a deleted pod readable after the kubelet is done with it."""


def condition(p: Pod, kind: str) -> dict[str, Any]:
    return next((c for c in p["status"].get("conditions") or [] if c["type"] == kind), {})


def init_status(p: Pod, name: str) -> dict[str, Any]:
    statuses = (p.get("status") or {}).get("initContainerStatuses") or []
    return next((s for s in statuses if s["name"] == name), {})


def events(api: Api, ns: str, reason: str) -> list[dict[str, Any]]:
    items = api.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [e for e in items if e.get("reason") == reason]


def release(api: Api, ns: str, name: str) -> None:
    api.patch(
        f"/api/v1/namespaces/{ns}/pods/{name}",
        {"metadata": {"finalizers": None}},
        "application/merge-patch+json",
    )


def test_init_containers_run_in_order_then_the_app_beside_its_sidecar(
    api_m: Api, kubelet: Kubelet, ns: str, kubeconfig_m: Path
) -> None:
    shared = [{"name": "work", "mountPath": "/work"}]
    manifest = pod(
        "init",
        kubelet.node_name,
        [busybox("app", "cat /work/log; sleep 3600", volumeMounts=shared)],
        initContainers=[
            busybox("first", "echo first >> /work/log", volumeMounts=shared),
            {
                **busybox("side", "echo side >> /work/log; sleep 3600", volumeMounts=shared),
                "restartPolicy": "Always",
            },
            busybox("second", "sleep 1; echo second >> /work/log", volumeMounts=shared),
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
        terminationGracePeriodSeconds=2,
    )
    create(api_m, ns, manifest)
    job = pod(
        "job", kubelet.node_name, [busybox("app", "sleep 1")],
        initContainers=[{**busybox("side", "sleep 3600"), "restartPolicy": "Always"}],
        restartPolicy="Never", terminationGracePeriodSeconds=2,
    )  # fmt: skip
    create(api_m, ns, job)
    p = wait_pod(
        api_m, ns, "init",
        lambda p: running(p) and container_status(p, "app").get("ready"),
        "Running with its app ready", kubelet=kubelet, timeout=60,
    )  # fmt: skip
    assert condition(p, "Initialized")["status"] == "True"
    assert init_status(p, "first")["state"]["terminated"]["reason"] == "Completed"
    assert init_status(p, "second")["state"]["terminated"]["exitCode"] == 0
    side = init_status(p, "side")
    assert "running" in side["state"] and side["started"] and side["ready"]
    logs = kubectl(kubeconfig_m, ns, "logs", "init", "-c", "app")
    assert logs.stdout.split() == ["first", "side", "second"], logs
    table = kubectl(kubeconfig_m, ns, "get", "pod", "init", "--no-headers")
    assert table.stdout.split()[1:3] == ["2/2", "Running"], table
    # a sidecar does not keep a pod of a Job from completing: it is stopped after the app
    p = wait_pod(api_m, ns, "job", lambda p: p["status"].get("phase") == "Succeeded",
                 "Succeeded despite its sidecar", kubelet=kubelet, timeout=60)  # fmt: skip
    assert "terminated" in init_status(p, "side")["state"]


def test_a_failed_init_container_fails_a_never_pod_and_backs_off_otherwise(
    api_m: Api, kubelet: Kubelet, ns: str, kubeconfig_m: Path
) -> None:
    create(api_m, ns, pod(
        "never", kubelet.node_name, [busybox("app", "true")],
        initContainers=[busybox("broken", "exit 3")], restartPolicy="Never",
    ))  # fmt: skip
    create(api_m, ns, pod(
        "again", kubelet.node_name, [busybox("app", "sleep 3600")],
        initContainers=[busybox("broken", "exit 3")], terminationGracePeriodSeconds=1,
    ))  # fmt: skip
    p = wait_pod(api_m, ns, "never", lambda p: p["status"].get("phase") == "Failed",
                 "Failed", kubelet=kubelet, timeout=60)  # fmt: skip
    assert init_status(p, "broken")["state"]["terminated"]["exitCode"] == 3
    assert container_status(p, "app")["state"]["waiting"]["reason"] == "PodInitializing"
    table = kubectl(kubeconfig_m, ns, "get", "pod", "never", "--no-headers")
    assert table.stdout.split()[2] == "Init:Error", table
    p = wait_pod(
        api_m, ns, "again",
        lambda p: (init_status(p, "broken").get("state") or {}).get("waiting", {}).get("reason")
        == "CrashLoopBackOff",
        "Init:CrashLoopBackOff", kubelet=kubelet, timeout=60,
    )  # fmt: skip
    assert p["status"]["phase"] == "Pending"
    table = kubectl(kubeconfig_m, ns, "get", "pod", "again", "--no-headers")
    assert table.stdout.split()[2] == "Init:CrashLoopBackOff", table


def test_hooks_termination_message_and_the_final_phase_of_a_deleted_pod(
    api_m: Api, kubelet: Kubelet, ns: str, kubeconfig_m: Path
) -> None:
    hooked = busybox(
        "c", "while [ ! -f /tmp/started ]; do sleep 0.1; done; sleep 3600",
        lifecycle={
            "postStart": {"exec": {"command": ["sh", "-c", "echo hi > /tmp/started"]}},
            "preStop": {"exec": {"command": ["sh", "-c", "echo bye > /dev/termination-log"]}},
        },
    )  # fmt: skip
    manifest = pod("hooks", kubelet.node_name, [hooked], terminationGracePeriodSeconds=3)
    manifest["metadata"]["finalizers"] = [KEEP]
    failing = busybox("c", "sleep 3600", lifecycle={"postStart": {"exec": {"command": ["false"]}}})
    create(api_m, ns, pod("badhook", kubelet.node_name, [failing], terminationGracePeriodSeconds=1))
    logs = busybox(
        "c", "echo from the log; exit 2", terminationMessagePolicy="FallbackToLogsOnError"
    )
    create(api_m, ns, pod("message", kubelet.node_name, [logs], restartPolicy="Never"))
    create(api_m, ns, manifest)
    try:
        wait_pod(api_m, ns, "hooks", running, "Running", kubelet=kubelet, timeout=60)
        assert api_m.delete(f"/api/v1/namespaces/{ns}/pods/hooks").status_code == 200
        p = wait_pod(
            api_m, ns, "hooks", lambda p: p["status"].get("phase") == "Failed",
            "Failed after its deletion (its container was killed)", kubelet=kubelet, timeout=60,
        )  # fmt: skip
        terminated = container_status(p, "c")["state"]["terminated"]
        assert terminated["message"] == "bye\n", terminated  # the preStop hook ran first
    finally:
        release(api_m, ns, "hooks")
    p = wait_pod(api_m, ns, "message", lambda p: p["status"].get("phase") == "Failed",
                 "Failed", kubelet=kubelet, timeout=60)  # fmt: skip
    assert container_status(p, "c")["state"]["terminated"]["message"] == "from the log\n"
    wait_for(lambda: events(api_m, ns, "FailedPostStartHook"), "a FailedPostStartHook Event",
             timeout=60)  # fmt: skip
    p = wait_pod(api_m, ns, "badhook", lambda p: container_status(p, "c").get("restartCount"),
                 "its container killed and restarted", kubelet=kubelet, timeout=60)  # fmt: skip
    assert p["status"]["phase"] == "Running"


def test_a_configmap_volume_is_updated_in_place(api_m: Api, kubelet: Kubelet, ns: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"},
          "data": {"k": "one"}}  # fmt: skip
    assert api_m.post(f"/api/v1/namespaces/{ns}/configmaps", cm).status_code == 201
    script = "while true; do cat /conf/k > /dev/termination-log; sleep 0.2; done"
    manifest = pod(
        "cm", kubelet.node_name,
        [busybox("c", script, volumeMounts=[
            {"name": "conf", "mountPath": "/conf"}, {"name": "opt", "mountPath": "/opt"},
        ])],
        volumes=[
            {"name": "conf", "configMap": {"name": "conf"}},
            {"name": "opt", "configMap": {"name": "absent", "optional": True}},
        ],
        terminationGracePeriodSeconds=1,
    )  # fmt: skip
    create(api_m, ns, manifest)
    wait_pod(api_m, ns, "cm", running, "Running", kubelet=kubelet, timeout=60)
    cm["data"] = {"k": "two"}
    assert api_m.put(f"/api/v1/namespaces/{ns}/configmaps/conf", cm).status_code == 200
    pod_dir = get(api_m, ns, "cm")["metadata"]["uid"]

    def updated() -> bool:
        result = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=minik8s.pod-uid={pod_dir}",
             "--filter", "label=minik8s.container=c"],
            capture_output=True, text=True,
        )  # fmt: skip
        ids = result.stdout.split()
        if not ids:
            return False
        out = subprocess.run(["docker", "exec", ids[0], "cat", "/conf/k"],
                             capture_output=True, text=True)  # fmt: skip
        return out.stdout == "two"

    wait_for(updated, "the ConfigMap's new value in the running container", timeout=60)


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
