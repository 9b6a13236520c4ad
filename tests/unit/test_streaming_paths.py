"""The pure parts of streaming: paths, the request relayed to the kubelet, minikctl's ports."""

from __future__ import annotations

import pytest

from minik8s.apiserver.kubeletproxy import Kubelet
from minik8s.apiserver.streamproxy import is_connect_path, kubelet_request
from minik8s.cli.minikctl.errors import CliError
from minik8s.cli.minikctl.portforward import (
    PortPair,
    parse_port,
    pick_pod,
    service_target_port,
)
from minik8s.kubelet.streaming.router import StreamPath, parse_path


def test_connect_paths() -> None:
    assert is_connect_path("/api/v1/namespaces/ns/pods/web/portforward")
    assert is_connect_path("/api/v1/namespaces/ns/pods/web/exec")
    assert not is_connect_path("/api/v1/namespaces/ns/pods/web/log")
    assert not is_connect_path("/api/v1/namespaces/ns/services/web/exec")
    assert not is_connect_path("/apis/apps/v1/namespaces/ns/pods/web/exec")


def test_the_kubelet_gets_the_upgrade_headers_and_never_the_users_credentials() -> None:
    scope = {
        "method": "POST",
        "headers": [
            (b"authorization", b"Bearer secret"),
            (b"impersonate-user", b"jane"),
            (b"upgrade", b"SPDY/3.1"),
            (b"connection", b"Upgrade"),
            (b"x-stream-protocol-version", b"v4.channel.k8s.io"),
            (b"x-stream-protocol-version", b"v3.channel.k8s.io"),
        ],
    }
    head = kubelet_request(
        scope, Kubelet("node-1", "10.0.0.2", 10250), "/exec/ns/web/app",
        [("command", "ls"), ("command", "-l"), ("stdin", "true")],
    ).decode()  # fmt: skip
    assert head.startswith("POST /exec/ns/web/app?command=ls&command=-l&stdin=true HTTP/1.1\r\n")
    assert "Host: 10.0.0.2:10250" in head
    assert head.count("x-stream-protocol-version") == 2
    assert "secret" not in head and "jane" not in head
    assert head.endswith("\r\n\r\n")


def test_kubelet_streaming_paths() -> None:
    assert parse_path("/exec/ns/web/app") == StreamPath("exec", "ns", "web", None, "app")
    assert parse_path("/attach/ns/web/uid-1/app") == StreamPath(
        "attach", "ns", "web", "uid-1", "app"
    )
    assert parse_path("/portForward/ns/web") == StreamPath("portForward", "ns", "web")
    assert parse_path("/portForward/ns/web/uid-1") == StreamPath(
        "portForward", "ns", "web", "uid-1"
    )
    assert parse_path("/exec/ns") is None
    assert parse_path("/logs/ns/web/app") is None


def test_port_specs_as_kubectl_reads_them() -> None:
    assert parse_port("8080:80") == PortPair(8080, 80)
    assert parse_port(":80") == PortPair(0, 80)
    assert parse_port("5000") == PortPair(5000, 5000)
    assert parse_port("8080:http") == PortPair(8080, "http")
    with pytest.raises(CliError):
        parse_port("8080:70000")


def pod(name: str, phase: str, ready: bool, created: str, ports: list[dict] | None = None) -> dict:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"containers": [{"name": "c", "ports": ports or []}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_a_running_ready_newest_pod_is_picked_and_service_ports_translated() -> None:
    pods = [
        pod("pending", "Pending", False, "2024-01-03T00:00:00Z"),
        pod("old", "Running", True, "2024-01-01T00:00:00Z"),
        pod("new-unready", "Running", False, "2024-01-04T00:00:00Z"),
        pod("new", "Running", True, "2024-01-02T00:00:00Z"),
    ]
    assert pick_pod(pods)["metadata"]["name"] == "new"
    assert pick_pod([pods[0]]) is None
    web = pod("w", "Running", True, "x", [{"name": "http", "containerPort": 8080}])
    service = {
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 443, "targetPort": 8443}]},
    }
    assert service_target_port(service, web, 80) == 8080
    assert service_target_port(service, web, 443) == 8443
    with pytest.raises(CliError, match="does not have a service port 81"):
        service_target_port(service, web, 81)
