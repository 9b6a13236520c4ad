"""Pods trying to reach the host through the kubelet, against a real kubelet and dockerd: each
attempt must fail, and what a pod may ask for must be what Docker gives it.

- a subPath through a symlink planted in a hostPath (by anyone) or in an emptyDir (by the
  pod itself, before a restart) is refused, never mounted;
- a securityContext is applied by Docker (user, groups, read-only root, no_new_privs, no
  capabilities, fsGroup on the emptyDir), runAsNonRoot refuses a root image;
- the kubelet's directories are private to root; a hostNetwork pod has the node's address;
- a probe path cannot turn into another host;
- a second kubelet for the same node refuses to start.
"""

from __future__ import annotations

import http.server
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.kubelet_support import (
    busybox,
    container_status,
    create,
    pod,
    ready,
    requires_docker,
    running,
    wait_pod,
)
from tests.support.api import Api
from tests.support.kubelet import Kubelet, docker
from tests.support.processes import temp_dir
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, requires_docker]


def config_error(container: str, fragment: str) -> object:
    def check(p: dict) -> bool:
        status = container_status(p, container)
        waiting = (status.get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError" and fragment in str(
            waiting.get("message")
        )

    return check


@pytest.fixture()
def planted() -> Iterator[Path]:
    """A host directory holding a symlink to a directory outside it."""
    work = temp_dir("minik8s-escape-")
    (work / "volume").mkdir()
    (work / "outside").mkdir()
    (work / "outside" / "secret").write_text("host data\n")
    (work / "volume" / "escape").symlink_to(work / "outside")
    yield work
    for path in sorted(work.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.unlink() if path.is_symlink() or path.is_file() else path.rmdir()
    work.rmdir()


def test_subpaths_through_planted_symlinks_are_refused(
    api_m: Api, kubelet: Kubelet, ns: str, planted: Path
) -> None:
    node = kubelet.node_name
    host = pod("hostpath", node,
               [busybox("c", "cat /x/secret; sleep 3600",
                        volumeMounts=[{"name": "v", "mountPath": "/x", "subPath": "escape"}])],
               volumes=[{"name": "v", "hostPath": {"path": str(planted / "volume")}}])  # fmt: skip
    # first start: /data/escape is a directory; the pod swaps it for a link to / and exits
    script = "rmdir /data/escape && ln -s / /data/escape; exit 1"
    mounts = [{"name": "e", "mountPath": "/data"},
              {"name": "e", "mountPath": "/x", "subPath": "escape"}]  # fmt: skip
    restart = pod("restart", node, [busybox("c", script, volumeMounts=mounts)],
                  volumes=[{"name": "e", "emptyDir": {}}])  # fmt: skip
    create(api_m, ns, host)
    create(api_m, ns, restart)
    wait_pod(api_m, ns, "hostpath", config_error("c", "not within volume path"),
             "CreateContainerConfigError for the planted symlink", kubelet=kubelet)  # fmt: skip
    wait_pod(api_m, ns, "restart", config_error("c", "not within volume path"),
             "the restart refused once the pod planted a symlink", kubelet=kubelet)  # fmt: skip
    assert (planted / "outside" / "secret").read_text() == "host data\n"


def test_security_context_is_what_docker_runs(api_m: Api, kubelet: Kubelet, ns: str) -> None:
    node = kubelet.node_name
    script = (
        'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; '
        "touch /rootfs 2>/dev/null && echo rootfs=rw || echo rootfs=ro; "
        'touch /data/f && echo "data=$(stat -c %g /data/f)"; '
        "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status; sleep 3600"
    )
    confined = pod(
        "confined", node,
        [busybox("c", script, volumeMounts=[{"name": "e", "mountPath": "/data"}],
                 securityContext={"allowPrivilegeEscalation": False,
                                  "readOnlyRootFilesystem": True,
                                  "capabilities": {"drop": ["ALL"]}})],
        volumes=[{"name": "e", "emptyDir": {}}],
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
    )  # fmt: skip
    root_image = pod("rootimage", node, [busybox("c", "sleep 3600")],
                     securityContext={"runAsNonRoot": True})  # fmt: skip
    host_net = pod("hostnet", node, [busybox("c", "sleep 3600")], hostNetwork=True, hostPID=True)
    for manifest in (confined, root_image, host_net):
        create(api_m, ns, manifest)
    p = wait_pod(api_m, ns, "confined", running, "Running", kubelet=kubelet)
    container_id = container_status(p, "c")["containerID"].removeprefix("docker://")
    logs = wait_for(lambda: (out := docker("logs", container_id)).count("\n") >= 5 and out,
                    "the confined container's report")  # fmt: skip
    assert "uid=1000 gid=3000 groups=3000 2000" in logs, logs
    assert "rootfs=ro" in logs and "data=2000" in logs, logs
    assert "NoNewPrivs:\t1" in logs and "CapEff:\t0000000000000000" in logs, logs
    pods_dir = kubelet.work_dir / "root" / node / "pods"
    uid = p["metadata"]["uid"]
    empty_dir = pods_dir / uid / "volumes" / "empty-dir" / "e"
    assert stat.S_IMODE(pods_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((pods_dir / uid).stat().st_mode) == 0o750
    assert stat.S_IMODE(empty_dir.stat().st_mode) == 0o2770 and empty_dir.stat().st_gid == 2000

    wait_pod(api_m, ns, "rootimage",
             config_error("c", "container has runAsNonRoot and image will run as root"),
             "runAsNonRoot refusing the root image", kubelet=kubelet)  # fmt: skip
    p = wait_pod(api_m, ns, "hostnet", running, "Running", kubelet=kubelet)
    assert p["status"]["podIP"] == p["status"]["hostIP"]


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_probe_path_never_reaches_another_host(api_m: Api, kubelet: Kubelet, ns: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        serve = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
        probe = {"periodSeconds": 1, "failureThreshold": 1}
        stolen = {"httpGet": {"port": 8080, "path": f"@127.0.0.1:{port}/stolen"}, **probe}
        own = {"httpGet": {"port": 8080, "path": "/"}, **probe}
        create(api_m, ns, pod("own", kubelet.node_name, [busybox("c", serve, readinessProbe=own)]))
        victim = busybox("c", serve, livenessProbe=stolen)
        create(api_m, ns, pod("stolen", kubelet.node_name, [victim],
                              terminationGracePeriodSeconds=1))  # fmt: skip
        wait_pod(api_m, ns, "own", ready, "Ready (probes reach the pod)", kubelet=kubelet)
        wait_pod(api_m, ns, "stolen", lambda p: container_status(p, "c").get("restartCount"),
                 "restarted: the liveness path is a 404 on the pod", kubelet=kubelet)  # fmt: skip
        assert _Hits.hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_second_kubelet_for_the_node_refuses_to_start(kubelet: Kubelet) -> None:
    work = temp_dir("minik8s-kubelet-twin-")
    twin = Kubelet(kubelet.kubeconfig, work, node_name=kubelet.node_name,
                   extra_args=["--lock-file", str(kubelet.work_dir / "kubelet.lock")])  # fmt: skip
    twin.start()
    process = twin.process
    assert process is not None
    try:
        wait_for(lambda: not process.alive(), "the second kubelet to exit")
        assert process.stop() == 1
        assert f'node "{kubelet.node_name}" is already run by another kubelet' in twin.log_tail()
    finally:
        twin.stop()
        shutil.rmtree(work, ignore_errors=True)
    assert kubelet.process is not None and kubelet.process.alive()
