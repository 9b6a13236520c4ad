"""The kubelet runs pods as real Docker containers: networking, config, restarts, probes."""

from __future__ import annotations

import json
import time

import httpx

from tests.e2e.kubelet_support import (
    busybox,
    container_status,
    create,
    pod,
    ready,
    requires_docker,
    running,
    wait_pod,
    wait_pull_back_off,
    waiting_reason,
)
from tests.support.api import Api
from tests.support.kubelet import Kubelet, containers, docker
from tests.support.waiting import wait_for

pytestmark = [requires_docker]


def test_pod_runs_with_a_reachable_ip_and_shares_localhost(
    api_m: Api, kubelet: Kubelet, ns: str
) -> None:
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "hi $(POD_NAME)"},
    ]
    web = {
        "name": "web",
        "image": "nginx",
        "env": env,
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
    }
    side = busybox(
        "side",
        "while true; do wget -q -O /tmp/page http://localhost:80/ && echo fetched; sleep 1; done",
    )
    create(api_m, ns, pod("web", kubelet.node_name, [web, side]))
    p = wait_pod(
        api_m, ns, "web", lambda p: running(p) and ready(p), "Running and Ready", kubelet=kubelet
    )
    status = p["status"]
    ip = status["podIP"]
    assert ip.startswith("10.244."), ip
    assert status["hostIP"] == "127.0.0.1"
    assert {c["type"] for c in status["conditions"]} >= {
        "Ready",
        "ContainersReady",
        "Initialized",
        "PodScheduled",
    }
    web_status = container_status(p, "web")
    assert web_status["containerID"].startswith("docker://")
    assert web_status["restartCount"] == 0 and web_status["ready"] is True

    assert "Welcome to nginx" in httpx.get(f"http://{ip}/", timeout=5).text
    side_id = container_status(p, "side")["containerID"].removeprefix("docker://")
    wait_for(lambda: "fetched" in docker("logs", side_id), "side car to fetch over localhost")

    web_id = web_status["containerID"].removeprefix("docker://")
    inspect = json.loads(docker("inspect", web_id))[0]
    env_seen = dict(e.split("=", 1) for e in inspect["Config"]["Env"])
    assert env_seen["POD_NAME"] == "web" and env_seen["POD_NS"] == ns
    assert env_seen["POD_IP"] == ip and env_seen["GREETING"] == "hi web"
    assert inspect["HostConfig"]["NanoCpus"] == 500_000_000
    assert inspect["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert inspect["HostConfig"]["NetworkMode"].startswith("container:")
    labels = inspect["Config"]["Labels"]
    assert labels["minik8s.node"] == kubelet.node_name and labels["minik8s.pod"] == "web"
    assert labels["minik8s.namespace"] == ns and labels["minik8s.container"] == "web"
    assert labels["minik8s.pod-uid"] == p["metadata"]["uid"]


def test_volumes_emptydir_configmap_and_command_args(api_m: Api, kubelet: Kubelet, ns: str) -> None:
    r = api_m.post(
        f"/api/v1/namespaces/{ns}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "conf"},
            "data": {"greeting": "hello from a configmap"},
        },
    )
    assert r.status_code == 201, r.text
    writer = busybox(
        "writer",
        "echo shared > /data/file; sleep 3600",
        volumeMounts=[{"name": "scratch", "mountPath": "/data"}],
    )
    reader = {
        "name": "reader",
        "image": "minik8s/busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c"],
        "args": ["cat /conf/greeting; echo; echo $(WHO); sleep 3600"],
        "workingDir": "/conf",
        "env": [
            {"name": "WHO", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "greeting"}}}
        ],
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/data"},
            {"name": "conf", "mountPath": "/conf", "readOnly": True},
        ],
    }
    volumes = [{"name": "scratch", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "conf"}}]
    create(api_m, ns, pod("vol", kubelet.node_name, [writer, reader], volumes=volumes))
    p = wait_pod(api_m, ns, "vol", running, "Running", kubelet=kubelet)
    reader_id = container_status(p, "reader")["containerID"].removeprefix("docker://")
    wait_for(
        lambda: docker("logs", reader_id).count("hello from a configmap") == 2,
        "the configmap file and env in the reader's output",
    )
    out = docker("exec", reader_id, "cat", "/data/file")
    assert out.strip() == "shared"
    assert docker("exec", reader_id, "pwd").strip() == "/conf"


def test_crash_loop_backs_off_and_counts_restarts(api_m: Api, kubelet: Kubelet, ns: str) -> None:
    create(api_m, ns, pod("crash", kubelet.node_name, [busybox("c", "echo boom; exit 3")]))
    started = time.monotonic()
    p = wait_pod(
        api_m,
        ns,
        "crash",
        lambda p: (
            waiting_reason(p, "c") == "CrashLoopBackOff"
            and container_status(p, "c")["restartCount"] >= 1
        ),
        "CrashLoopBackOff",
        kubelet=kubelet,
    )
    status = container_status(p, "c")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert p["status"]["phase"] == "Running"  # restartPolicy Always: it keeps restarting
    # The first restart is immediate, the next waits 10 s: restartCount 2 comes after ~10 s.
    wait_pod(
        api_m,
        ns,
        "crash",
        lambda p: container_status(p, "c")["restartCount"] >= 2,
        "the second restart",
        timeout=25,
        kubelet=kubelet,
    )
    assert time.monotonic() - started >= 9.0
    assert len(containers(kubelet.node_name, "minik8s.container=c", f"minik8s.namespace={ns}")) <= 2


def test_restart_policy_never_and_onfailure_reach_terminal_phases(
    api_m: Api, kubelet: Kubelet, ns: str
) -> None:
    create(
        api_m, ns, pod("ok", kubelet.node_name, [busybox("c", "exit 0")], restartPolicy="OnFailure")
    )
    create(
        api_m, ns, pod("bad", kubelet.node_name, [busybox("c", "exit 2")], restartPolicy="Never")
    )
    p = wait_pod(api_m, ns, "ok", lambda p: p["status"].get("phase") == "Succeeded", "Succeeded")
    assert container_status(p, "c")["state"]["terminated"]["reason"] == "Completed"
    p = wait_pod(api_m, ns, "bad", lambda p: p["status"].get("phase") == "Failed", "Failed")
    assert container_status(p, "c")["state"]["terminated"]["exitCode"] == 2
    assert container_status(p, "c")["restartCount"] == 0


def test_liveness_failure_restarts_and_readiness_toggles(
    api_m: Api, kubelet: Kubelet, ns: str
) -> None:
    live = busybox(
        "live",
        "touch /tmp/alive; sleep 3600",
        livenessProbe={
            "exec": {"command": ["cat", "/tmp/alive"]},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    )
    toggled = busybox(
        "ready",
        "sleep 3600",
        readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
    )
    create(
        api_m,
        ns,
        pod("probes", kubelet.node_name, [live, toggled], terminationGracePeriodSeconds=1),
    )
    p = wait_pod(api_m, ns, "probes", running, "Running", kubelet=kubelet)
    assert not ready(p)
    ready_id = container_status(p, "ready")["containerID"].removeprefix("docker://")
    docker("exec", ready_id, "touch", "/tmp/ready")
    wait_pod(api_m, ns, "probes", ready, "Ready after /tmp/ready appears", kubelet=kubelet)
    docker("exec", ready_id, "rm", "/tmp/ready")
    p = wait_pod(api_m, ns, "probes", lambda p: not ready(p), "not Ready again", kubelet=kubelet)
    assert container_status(p, "ready")["ready"] is False

    live_id = container_status(p, "live")["containerID"].removeprefix("docker://")
    docker("exec", live_id, "rm", "/tmp/alive")
    p = wait_pod(
        api_m,
        ns,
        "probes",
        lambda p: (
            container_status(p, "live")["restartCount"] >= 1
            and "running" in container_status(p, "live")["state"]
        ),
        "the liveness restart",
        timeout=20,
        kubelet=kubelet,
    )
    assert container_status(p, "live")["containerID"] != f"docker://{live_id}"


def test_missing_image_gives_errimagepull_then_imagepullbackoff(
    api_m: Api, kubelet: Kubelet, ns: str
) -> None:
    spec = {"name": "c", "image": "minik8s-test/does-not-exist:1.0"}
    create(api_m, ns, pod("noimage", kubelet.node_name, [spec]))
    p = wait_pull_back_off(api_m, ns, "noimage", kubelet)
    assert p["status"]["phase"] == "Pending"
    assert kubelet.process is not None and kubelet.process.alive()


def test_delete_honours_the_grace_period_and_removes_containers(
    api_m: Api, kubelet: Kubelet, ns: str
) -> None:
    polite = busybox("c", "trap 'exit 0' TERM; while true; do sleep 1; done")
    stubborn = busybox("c", "trap '' TERM; while true; do sleep 1; done")
    create(api_m, ns, pod("polite", kubelet.node_name, [polite]))
    create(
        api_m, ns, pod("stubborn", kubelet.node_name, [stubborn], terminationGracePeriodSeconds=3)
    )
    for name in ("polite", "stubborn"):
        wait_pod(api_m, ns, name, running, "Running", kubelet=kubelet)

    timings = {}
    for name in ("polite", "stubborn"):
        started = time.monotonic()
        r = api_m.delete(f"/api/v1/namespaces/{ns}/pods/{name}")
        assert r.status_code == 200, r.text
        wait_for(
            lambda name=name: api_m.get(f"/api/v1/namespaces/{ns}/pods/{name}").status_code == 404,
            f"pod {name} to be deleted",
            timeout=20,
        )
        timings[name] = time.monotonic() - started
        assert containers(kubelet.node_name, f"minik8s.namespace={ns}", f"minik8s.pod={name}") == []
    assert timings["polite"] < 2.5, timings
    assert 2.5 <= timings["stubborn"] < 8, timings
