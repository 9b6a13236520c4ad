"""The dashboard's pure parts: audit events as architecture steps, the flow log's cursors,
one-time logins, Table watch resourceVersions, SSE framing and the seed flow's order."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import orjson
import pytest
import yaml

from minik8s.api import errors, podflow
from minik8s.client.kubeconfig import ConfigError
from minik8s.dashboard import auditflow, flowstream, grants, signin, sse, streams, usage
from minik8s.dashboard.flowlog import FlowLog


def audit_event(user: str, verb: str, resource: str, code: int, **ref: str) -> dict:
    return {
        "stage": "ResponseComplete",
        "auditID": "a1",
        "verb": verb,
        "user": {"username": user},
        "objectRef": {"resource": resource, **ref},
        "responseStatus": {"code": code},
        "stageTimestamp": "2026-01-02T03:04:05.123456Z",
    }


def test_a_pod_created_by_a_user_is_a_request_a_write_and_watch_deliveries() -> None:
    steps = auditflow.steps(
        audit_event("kubernetes-admin", "create", "pods", 201, namespace="default", name="web")
    )
    arrows = [(s["kind"], s["src"], s["dst"]) for s in steps]
    assert arrows == [
        ("request", "kubectl", "apiserver"),
        ("write", "apiserver", "etcd"),
        ("watch", "apiserver", "scheduler"),
        ("watch", "apiserver", "controller-manager"),
    ]
    assert steps[0]["t"] == 1767323045123.456 and steps[0]["name"] == "web"


def test_components_are_named_from_their_users_and_refusals_write_nothing() -> None:
    assert auditflow.component_of("system:node:node-2") == "kubelet:node-2"
    assert auditflow.component_of("system:kube-scheduler") == "scheduler"
    assert auditflow.component_of("system:serviceaccount:kube-system:x") == "controller-manager"
    assert auditflow.component_of("jane") == "kubectl"
    refused = auditflow.steps(audit_event("jane", "patch", "deployments", 403, subresource="scale"))
    assert [(s["kind"], s["resource"], s["code"]) for s in refused] == [
        ("request", "deployments/scale", 403)
    ]
    binding = auditflow.steps(
        audit_event("system:kube-scheduler", "create", "pods", 201, subresource="binding")
    )
    assert binding[-1]["dst"] == "kubelet"
    started = {**audit_event("jane", "get", "pods", 200), "stage": "ResponseStarted"}
    assert auditflow.steps(started) == []


def test_the_flow_log_gives_each_reader_everything_once_and_counts_what_it_skipped() -> None:
    log = FlowLog(capacity=5)
    log.append([{"n": i} for i in range(3)])
    items, cursor, skipped = log.since(0)
    assert [orjson.loads(i)["n"] for i in items] == [0, 1, 2] and (cursor, skipped) == (3, 0)
    log.append([{"n": i} for i in range(3, 10)])
    items, cursor, skipped = log.since(cursor)
    assert [orjson.loads(i)["n"] for i in items] == [5, 6, 7, 8, 9] and (cursor, skipped) == (10, 2)
    assert log.since(cursor) == ([], 10, 0)


async def test_a_flow_log_reader_wakes_when_entries_arrive() -> None:
    log = FlowLog()
    waiter = asyncio.ensure_future(log.wait(0, 5.0))
    await asyncio.sleep(0)
    log.append([{"n": 1}])
    await asyncio.wait_for(waiter, 1.0)


def test_a_one_time_login_is_private_works_once_and_expires(tmp_path: Path) -> None:
    directory = tmp_path / "grants"
    credential = grants.Credential(client_certificate_data=b"CERT", client_key_data=b"KEY")
    code = grants.mint(directory, credential)
    files = list(directory.iterdir())
    assert len(files) == 1 and code not in files[0].name
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert grants.redeem(directory, code) == credential
    assert grants.redeem(directory, code) is None
    expired = grants.mint(directory, grants.Credential(token="t"), ttl=-1)
    assert grants.redeem(directory, expired) is None
    assert grants.redeem(directory, "x" * 300) is None
    grants.mint(directory, grants.Credential(token="t"), ttl=-1)
    grants.sweep(directory)
    assert list(directory.iterdir()) == []


def test_table_watch_events_carry_their_rows_resource_version() -> None:
    table = {"rows": [{"object": {"metadata": {"resourceVersion": "42"}}}]}
    assert streams.table_resource_version(table) == "42"
    assert streams.table_resource_version({"metadata": {"resourceVersion": "7"}}) == "7"
    assert streams.table_resource_version({}) is None
    frame = sse.event("change", {"a": "line\nbreak"})
    name, data, end = frame.split(b"\n", 2)
    assert name == b"event: change" and orjson.loads(data[6:]) == {"a": "line\nbreak"}
    assert end == b"\n"


def test_follow_one_pod_orders_the_seed_flow() -> None:
    pod = {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "u1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"nodeName": "node-1"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "startTime": "2026-01-01T00:00:01Z",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                },
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:02Z"},
            ],
            "containerStatuses": [
                {"name": "c", "containerID": "docker://abc", "state": {"running": {}}}
            ],
        },
    }
    started = {
        "metadata": {"uid": "e1", "name": "web.1"},
        "reason": "Started",
        "type": "Normal",
        "involvedObject": {"uid": "u1"},
        "source": {"component": "kubelet", "host": "node-1"},
        "lastTimestamp": "2026-01-01T00:00:01Z",
        "message": "Started container c",
    }
    steps = podflow.admission_steps(pod) + podflow.steps(pod, [started])
    keys = [s.key for s in sorted(steps, key=flowstream._step_order)]
    assert keys == [
        "accepted",
        "stored",
        "scheduled",
        "event/e1/1",
        "containers",
        "running",
        "ready",
    ]
    assert flowstream.event_step(started)["src"] == "kubelet:node-1"
    assert flowstream.event_step(started)["dst"] == "runtime:node-1"


def test_node_usage_is_shown_beside_allocatable_and_capacity() -> None:
    nodes = [
        {"metadata": {"name": "node-2"}, "status": {"capacity": {"cpu": "2"}}},
        {
            "metadata": {"name": "node-1"},
            "status": {
                "capacity": {"cpu": "2", "memory": "4Gi"},
                "allocatable": {"cpu": "1500m", "memory": "2Gi"},
            },
        },
    ]
    metrics = [
        {"metadata": {"name": "node-1"}, "usage": {"cpu": "375000000n", "memory": "512Mi"},
         "timestamp": "2026-01-02T03:04:05Z", "window": "10s"},
    ]  # fmt: skip
    rows = usage.node_rows(nodes, metrics)
    assert [r["name"] for r in rows] == ["node-1", "node-2"]
    one = rows[0]
    assert one["cpu"] == {"usage": 375, "allocatable": 1500, "capacity": 2000, "percent": 25}
    assert one["memory"]["usage"] == 512 << 20 and one["memory"]["percent"] == 25
    assert one["window"] == "10s"
    # a node the metrics server has not scraped yet: no usage, no percentage, no error
    assert rows[1]["cpu"] == {"usage": None, "allocatable": None, "capacity": 2000, "percent": None}


def test_without_the_metrics_api_usage_is_unavailable_not_an_error() -> None:
    missing = usage.unavailable_reason(errors.NotFound("the server could not find it"))
    assert missing == "Metrics API not available (no metrics server runs)"
    refused = usage.unavailable_reason(errors.Forbidden('cannot list resource "nodes"'))
    assert refused.startswith("403 Forbidden")


def test_a_kube_proxy_sync_event_travels_from_its_kube_proxy_to_iptables() -> None:
    event = {
        "reason": flowstream.PROXY_SYNCED,
        "count": 7,
        "message": "Synced the iptables rules",
        "source": {"component": "kube-proxy", "host": "node-1"},
        "involvedObject": {"kind": "Node", "name": "node-1"},
    }
    step = flowstream.event_step(event)
    assert (step["src"], step["dst"], step["count"]) == ("proxy:node-1", "iptables:node-1", 7)


def test_a_sign_in_link_for_a_kubeconfig_read_from_stdin(tmp_path: Path) -> None:
    kubeconfig = yaml.safe_dump(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://apiserver:6443"}}],
            "users": [{"name": "u", "user": {"token": "t0ken"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    url = signin.login_url(kubeconfig, tmp_path / "grants", "http://127.0.0.1:9091/")
    assert url.startswith("http://127.0.0.1:9091/login?code=") and "t0ken" not in url
    code = url.split("code=", 1)[1]
    assert grants.redeem(tmp_path / "grants", code) == grants.Credential(token="t0ken")
    with pytest.raises(ConfigError):
        signin.login_url("- not a mapping", tmp_path / "grants", "http://x")
