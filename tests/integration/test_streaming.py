"""Streaming through the apiserver to a kubelet, with real clients and no Docker.

A real apiserver and a real kubelet process with the hollow runtime, whose pods share the
host's loopback (port N of a hollow pod is 127.0.0.1:N) and whose exec echoes stdin like
`cat`. So kubectl 1.32 and the official Python client exercise every wire protocol —
SPDY/3.1, SPDY tunnelled in a WebSocket, WebSocket channels (v4, v5) — end to end through
the apiserver's relay and the kubelet's streaming server, in seconds.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import portforward, stream

from tests.support.api import Api
from tests.support.kubelet import Kubelet
from tests.support.processes import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

PAYLOAD = os.urandom(3 << 20)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = PAYLOAD if self.path == "/big" else b"hello from the hollow pod\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@dataclass
class Env:
    api: Api
    kubeconfig: Path
    namespace: str
    pod: str
    web_port: int
    """Where the hollow pod's web server listens (127.0.0.1)."""

    def kubectl(self, *args: str, env: dict[str, str] | None = None, timeout: float = 30,
                input_: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args],
            capture_output=True, text=True, timeout=timeout, input=input_,
            env={**os.environ, **(env or {})},
        )  # fmt: skip

    def port_forward(self, *args: str, env: dict[str, str] | None = None
                     ) -> subprocess.Popen[str]:  # fmt: skip
        return subprocess.Popen(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", self.namespace,
             "port-forward", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip


@pytest.fixture(scope="module")
def env(apiserver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("streaming")
    kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
    api = Api(apiserver)
    web = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    kubelet = Kubelet(kubeconfig, work / "kubelet", runtime="fake")
    kubelet.start()
    try:
        kubelet.wait_ready(api)
        namespace = api.namespace()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "nodeName": kubelet.node_name,
                "containers": [{"name": "app", "image": "nginx"}],
            },
        }
        created = api.post(f"/api/v1/namespaces/{namespace}/pods", pod)
        assert created.status_code == 201, created.text

        def running() -> bool:
            got = api.get(f"/api/v1/namespaces/{namespace}/pods/web").json()
            return got.get("status", {}).get("phase") == "Running"

        wait_for(running, "the hollow pod to run", timeout=20)
        yield Env(api, kubeconfig, namespace, "web", web.server_address[1])
    finally:
        kubelet.stop()
        web.shutdown()
        web.server_close()
        api.close()


def _forwarding(process: subprocess.Popen[str], local: int) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"kubectl port-forward exited: {process.stderr.read()}")  # type: ignore[union-attr]
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", local)) == 0

    wait_for(listening, f"kubectl port-forward to listen on {local}", timeout=20)


def _stop(process: subprocess.Popen[str]) -> str:
    """Stop it; its stderr (its stdout stays readable from `process.output`)."""
    process.terminate()
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
    process.output = out or ""  # type: ignore[attr-defined]
    return err


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.read()


@pytest.mark.parametrize(
    "transport", ["websocket-tunnel", "spdy"], ids=["spdy-over-websocket", "plain-spdy"]
)
def test_kubectl_port_forward_parallel_connections_and_a_closed_port(
    env: Env, transport: str
) -> None:
    local, closed = free_port(), free_port()
    flags = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"} if transport == "spdy" else {}
    process = env.port_forward(
        f"pod/{env.pod}", f"{local}:{env.web_port}", f"{closed}:1", env=flags
    )
    try:
        _forwarding(process, local)
        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(_get, [f"http://127.0.0.1:{local}/"] * 16))
            big = list(pool.map(_get, [f"http://127.0.0.1:{local}/big"] * 3))
        assert pages == [b"hello from the hollow pod\n"] * 16
        assert all(b == PAYLOAD for b in big)
        # Nothing listens on port 1 of the pod: the connection ends, kubectl reports the
        # error from the error stream (and, as kubectl 1.32 does, stops forwarding).
        with socket.create_connection(("127.0.0.1", closed), timeout=10) as s:
            s.settimeout(10)
            assert s.recv(1) == b""
        wait_for(lambda: process.poll() is not None, "kubectl to end after the error", 15)
        err = _stop(process)
        assert "error forwarding port 1 to pod web" in err, err
        assert "Connection refused" in err or "connection refused" in err, err
    finally:
        if process.poll() is None:
            _stop(process)


def test_kubectl_port_forward_service_and_deployment_resolve_to_a_pod(env: Env) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": env.web_port}]},
    }
    created = env.api.post(f"/api/v1/namespaces/{env.namespace}/services", service)
    assert created.status_code == 201, created.text
    local = free_port()
    process = env.port_forward("svc/web", f"{local}:80")
    try:
        _forwarding(process, local)
        assert _get(f"http://127.0.0.1:{local}/") == b"hello from the hollow pod\n"
    finally:
        _stop(process)
    assert process.stdout is not None


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_kubectl_exec_with_stdin_and_exit(env: Env, transport: str) -> None:
    flags = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"} if transport == "spdy" else {}
    result = env.kubectl(
        "exec", "-i", env.pod, "--", "cat", env=flags, input_="line one\nline two\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "line one\nline two\n"
    attach = env.kubectl("attach", "-i", env.pod, env=flags, input_="attached\n")
    assert attach.returncode == 0, attach.stderr
    assert "attached" in attach.stdout


def test_exec_refusals_read_as_kubernetes_writes_them(env: Env) -> None:
    missing = env.kubectl("exec", "nothere", "--", "true")
    assert missing.returncode == 1
    assert 'pods "nothere" not found' in missing.stderr
    wrong = env.kubectl("exec", env.pod, "-c", "nope", "--", "true")
    assert wrong.returncode == 1
    assert "container nope is not valid for pod web" in wrong.stderr
    plain = env.api.post(f"/api/v1/namespaces/{env.namespace}/pods/web/portforward", {})
    assert plain.status_code == 400
    assert plain.json()["message"] == "Upgrade request required"


def test_python_client_portforward_and_exec_stdin(env: Env) -> None:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(str(env.kubeconfig), client_configuration=configuration)
    with k8s.ApiClient(configuration) as api_client:
        core = k8s.CoreV1Api(api_client)
        forward = portforward(
            core.connect_get_namespaced_pod_portforward,
            env.pod,
            env.namespace,
            ports=str(env.web_port),
        )
        sock = forward.socket(env.web_port)
        sock.setblocking(True)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        received = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        sock.close()
        assert received.endswith(b"hello from the hollow pod\n"), received
        assert forward.error(env.web_port) is None
        forward.close()
        wait_for(lambda: not forward.connected, "the port-forward WebSocket to close", 10)
        # The client's proxy thread returns without closing its socket when the server ends
        # the WebSocket first (the pod closed the connection): close it for it.
        forward.websocket.shutdown()

        session = stream(
            core.connect_get_namespaced_pod_exec,
            env.pod,
            env.namespace,
            command=["cat"],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        session.write_stdin("from python\n")
        line = session.readline_stdout(timeout=10)
        assert line == "from python"
        session.close()
        session.sock.shutdown()  # close() skips the socket once the server has ended it


def test_kubectl_debug_adds_an_ephemeral_container_and_attaches(env: Env) -> None:
    debug = env.kubectl(
        "debug", "-i", f"pod/{env.pod}", "--image=minik8s/busybox", "--target=app",
        "--container=dbg", input_="from the debugger\n",
    )  # fmt: skip
    assert debug.returncode == 0, debug.stderr
    assert "from the debugger" in debug.stdout
    pod = env.api.get(f"/api/v1/namespaces/{env.namespace}/pods/{env.pod}").json()
    [container] = pod["spec"]["ephemeralContainers"]
    assert container["name"] == "dbg" and container["targetContainerName"] == "app"

    def started() -> bool:
        got = env.api.get(f"/api/v1/namespaces/{env.namespace}/pods/{env.pod}").json()
        statuses = got["status"].get("ephemeralContainerStatuses") or []
        return any(s["name"] == "dbg" and "running" in s["state"] for s in statuses)

    wait_for(started, "the ephemeral container's running status", timeout=10)
    path = f"/api/v1/namespaces/{env.namespace}/pods/{env.pod}/ephemeralcontainers"
    changed = {**container, "image": "nginx"}
    refused = env.api.patch(
        path, {"spec": {"ephemeralContainers": [changed]}}, "application/strategic-merge-patch+json"
    )
    assert refused.status_code == 422, refused.text
    assert 'existing ephemeral containers \\"dbg\\" may not be changed' in refused.text
    ports = {"name": "p", "image": "minik8s/busybox", "ports": [{"containerPort": 80}]}
    refused = env.api.patch(
        path, {"spec": {"ephemeralContainers": [container, ports]}},
        "application/strategic-merge-patch+json",
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert "spec.ephemeralContainers[1].ports" in refused.text
    assert "cannot be set for an Ephemeral Container" in refused.text
    created = env.api.post(
        f"/api/v1/namespaces/{env.namespace}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "early"},
            "spec": {
                "containers": [{"name": "a", "image": "nginx"}],
                "ephemeralContainers": [{"name": "e", "image": "nginx"}],
            },
        },
    )
    assert created.status_code == 422
    assert "cannot be set on create" in created.text


def test_minikctl_port_forward_prints_what_kubectl_prints(env: Env) -> None:
    local = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "minik8s.cli.minikctl.app", "--kubeconfig", str(env.kubeconfig),
         "-n", env.namespace, "port-forward", f"pod/{env.pod}", f"{local}:{env.web_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _forwarding(process, local)
        with ThreadPoolExecutor(4) as pool:
            pages = list(pool.map(_get, [f"http://127.0.0.1:{local}/"] * 4))
        assert pages == [b"hello from the hollow pod\n"] * 4
        assert _get(f"http://127.0.0.1:{local}/big") == PAYLOAD
    finally:
        _stop(process)
    out = process.output  # type: ignore[attr-defined]
    assert f"Forwarding from 127.0.0.1:{local} -> {env.web_port}" in out, out
    assert f"Handling connection for {local}" in out, out
