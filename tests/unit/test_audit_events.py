"""Audit events, their stages, the log file's rotation and the log backend's buffer."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from minik8s.api import times
from minik8s.apiserver.audit import event as events
from minik8s.apiserver.audit import logfile
from minik8s.apiserver.audit.auditor import Auditor, audit_id
from minik8s.apiserver.audit.logbackend import LogBackend
from minik8s.apiserver.audit.policy import parse_policy
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import parse
from tests.support.waiting import wait_for

JANE = UserInfo("jane", "u-1", ("devs", "system:authenticated"), (("scopes", ("a",)),))


def scope(path: str, method: str = "GET", query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
    }


class Sink:
    def __init__(self, level: str = "Metadata", **extra: Any) -> None:
        rule = {"level": level, **extra}
        self.policy = parse_policy(
            {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [rule]}
        )
        self.events: list[dict[str, Any]] = []
        self.name = "memory"

    def process(self, event: dict[str, Any]) -> None:
        # what a backend writes: the event as JSON at the moment it was handed over
        self.events.append(orjson.loads(orjson.dumps(event)))

    def auditor(self) -> Auditor:
        return Auditor(self.policy, [self])

    def stages(self) -> list[str]:
        return [e["stage"] for e in self.events]


def begin(sink: Sink, s: dict[str, Any], user: UserInfo = JANE) -> Any:
    attrs = parse(user, s["method"], s["path"], s["query_string"])
    return sink.auditor().begin(s, "id-1", time.time(), user, attrs)


def respond(context: Any, status: int, body: bytes, content_type: bytes = b"application/json"):
    context.on_send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    context.on_send({"type": "http.response.body", "body": body})


def test_a_create_gives_received_then_complete_with_kubernetes_fields() -> None:
    sink = Sink()
    s = scope("/api/v1/namespaces/dev/pods", "POST", b"dryRun=All", user_agent="kubectl/v1.32.0")
    context = begin(sink, s)
    context.log_decision(True, "")
    context.log_request_object({"metadata": {"name": "web", "uid": "", "namespace": "dev"}})
    respond(context, 201, b'{"kind":"Pod"}')
    context.finish()
    received, complete = sink.events
    assert sink.stages() == ["RequestReceived", "ResponseComplete"]
    assert list(complete) == [
        "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
        "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestReceivedTimestamp",
        "stageTimestamp", "annotations",
    ]  # fmt: skip
    assert complete["kind"] == "Event" and complete["apiVersion"] == "audit.k8s.io/v1"
    assert complete["requestURI"] == "/api/v1/namespaces/dev/pods?dryRun=All"
    assert complete["verb"] == "create"
    assert complete["user"] == {
        "username": "jane",
        "uid": "u-1",
        "groups": ["devs", "system:authenticated"],
        "extra": {"scopes": ["a"]},
    }
    assert complete["objectRef"] == {
        "resource": "pods",
        "namespace": "dev",
        "name": "web",
        "apiVersion": "v1",
    }
    assert complete["responseStatus"] == {"metadata": {}, "code": 201}
    assert complete["annotations"] == {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": "",
    }
    # RequestReceived is written before the body is read and authorization has run
    assert received["objectRef"] == {"resource": "pods", "namespace": "dev", "apiVersion": "v1"}
    assert "annotations" not in received and "responseStatus" not in received
    assert received["stageTimestamp"] == received["requestReceivedTimestamp"]
    assert complete["stageTimestamp"] >= complete["requestReceivedTimestamp"]


def test_a_status_response_keeps_its_bounded_fields() -> None:
    sink = Sink()
    context = begin(sink, scope("/api/v1/namespaces/dev/pods/x"))
    body = (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"x\\" not found","reason":"NotFound",'
        b'"details":{"name":"x","kind":"pods"},"code":404}'
    )
    respond(context, 404, body)
    context.finish()
    assert sink.events[-1]["responseStatus"] == {
        "metadata": {},
        "status": "Failure",
        "message": 'pods "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "kind": "pods"},
        "code": 404,
    }


def test_a_watch_has_a_response_started_stage_and_omitted_stages_are_not_written() -> None:
    sink = Sink()
    context = begin(sink, scope("/api/v1/pods", query=b"watch=1"))
    respond(context, 200, b'{"type":"ADDED"}\n')
    context.on_send({"type": "http.response.body", "body": b'{"type":"MODIFIED"}\n'})
    context.finish()
    assert sink.stages() == ["RequestReceived", "ResponseStarted", "ResponseComplete"]
    assert sink.events[1]["responseStatus"] == {"metadata": {}, "code": 200}

    quiet = Sink(omitStages=["RequestReceived", "ResponseStarted"])
    context = begin(quiet, scope("/api/v1/pods", query=b"watch=1"))
    context.finish()  # the client went away before any response
    assert quiet.stages() == ["ResponseComplete"]
    assert quiet.events[0]["responseStatus"]["message"] == "Connection closed early"


def test_a_panic_replaces_response_complete() -> None:
    sink = Sink()
    context = begin(sink, scope("/api/v1/namespaces/a/pods"))
    context.log_panic(RuntimeError("boom"))
    respond(context, 500, b"{}")
    context.finish()
    assert sink.stages() == ["RequestReceived", "Panic"]
    assert sink.events[-1]["responseStatus"] == {
        "metadata": {},
        "status": "Failure",
        "message": "APIServer panic'd: boom",
        "reason": "InternalError",
        "code": 500,
    }


def test_failed_authentication_is_one_response_started_event_without_a_user() -> None:
    sink = Sink()
    s = scope("/api/v1/pods")
    attrs = parse(JANE, "GET", "/api/v1/pods")
    context = sink.auditor().failed_authentication(s, "id-2", time.time(), attrs)
    body = (
        b'{"kind":"Status","status":"Failure","message":"Unauthorized",'
        b'"reason":"Unauthorized","code":401}'
    )
    respond(context, 401, body)
    context.finish()
    assert sink.stages() == ["ResponseStarted"]
    assert sink.events[0]["user"] == {}
    assert sink.events[0]["responseStatus"]["reason"] == "Unauthorized"


def test_request_level_keeps_the_object_as_sent_and_request_response_the_answer() -> None:
    sink = Sink("RequestResponse", omitManagedFields=True)
    context = begin(sink, scope("/api/v1/namespaces/a/configmaps", "POST"))
    sent = {"metadata": {"name": "c", "managedFields": [{"manager": "kubectl"}]}, "data": {}}
    context.log_request_object(sent)
    sent["metadata"]["uid"] = "set-later-by-the-registry"  # defaulting mutates the dict
    answer = b'{"kind":"ConfigMap","metadata":{"name":"c","managedFields":[{"manager":"k"}]}}'
    respond(context, 201, answer)
    context.finish()
    complete = sink.events[-1]
    assert complete["requestObject"] == {"metadata": {"name": "c"}, "data": {}}
    assert complete["responseObject"] == {"kind": "ConfigMap", "metadata": {"name": "c"}}

    metadata = Sink("Metadata")
    context = begin(metadata, scope("/api/v1/namespaces/a/configmaps", "POST"))
    context.log_request_object(sent)
    respond(context, 201, answer)
    context.finish()
    assert "requestObject" not in metadata.events[-1]
    assert "responseObject" not in metadata.events[-1]


def test_a_patch_is_recorded_raw_and_impersonation_is_recorded() -> None:
    sink = Sink("Request")
    context = begin(sink, scope("/api/v1/namespaces/a/pods/p", "PATCH"))
    context.log_impersonated_user(UserInfo("bob", "", ("system:authenticated",)))
    context.log_request_patch(b'{"metadata":{"labels":{"a":"b"}}}')
    respond(context, 200, b"{}")
    context.finish()
    complete = sink.events[-1]
    assert complete["requestObject"] == {"metadata": {"labels": {"a": "b"}}}
    assert complete["impersonatedUser"] == {"username": "bob", "groups": ["system:authenticated"]}
    assert complete["user"]["username"] == "jane"


def test_source_ips_user_agent_and_audit_id() -> None:
    headers = [
        (b"x-forwarded-for", b"10.0.0.1, bogus, 10.0.0.2"),
        (b"x-real-ip", b"10.0.0.3"),
        (b"user-agent", b"a" * 2000),
    ]
    ips, agent = events.client_details(headers, ("127.0.0.1", 1))
    assert ips == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1"]
    assert agent == "a" * 1024 + "...TRUNCATED"
    assert events.client_details([(b"x-real-ip", b"127.0.0.1")], ("127.0.0.1", 1)) == (
        ["127.0.0.1"],
        "",
    )
    assert audit_id([(b"audit-id", b"mine")]) == "mine"
    generated = audit_id([])
    assert uuid.UUID(generated).version == 4 and generated != audit_id([])


def test_micro_timestamps() -> None:
    assert times.format_micro_timestamp(0.5) == "1970-01-01T00:00:00.500000Z"
    assert times.format_micro_timestamp(1714557600.123456).endswith("00:00.123456Z")


def test_the_log_file_rotates_as_lumberjack_names_and_prunes(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.log"
    log = logfile.RotatingFile(path, max_size_mb=1, max_backups=2)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "audit").stat().st_mode & 0o777 == 0o700
    line = b"x" * 1023 + b"\n"
    day = 86400.0
    for i in range(3):
        log.write(line * 1024)  # exactly 1 MiB: the next write rotates
        log.rotate(now=1_700_000_000 + i * day)
    log.write(line)
    backups = log.backups()
    assert [p.name for _, p in backups] == [
        "audit-2023-11-16T22-13-20.000.log",
        "audit-2023-11-15T22-13-20.000.log",
    ]  # the oldest of three was pruned (--audit-log-maxbackup=2)
    assert all(p.stat().st_mode & 0o777 == 0o600 for _, p in backups)
    assert path.read_bytes() == line
    log.close()

    aged = logfile.RotatingFile(path, max_size_mb=1, max_age_days=1)
    aged.prune(now=1_700_000_000 + 3 * day)
    assert [p.name for _, p in aged.backups()] == ["audit-2023-11-16T22-13-20.000.log"]
    aged.close()


def test_writes_past_the_size_rotate_between_lines(tmp_path: Path) -> None:
    log = logfile.RotatingFile(tmp_path / "a.log", max_size_mb=1)
    line = b"y" * (400 * 1024 - 1) + b"\n"
    log.write_lines([line] * 5)  # one batch of 2 MB: rotated after the 2nd and the 4th line
    sizes = sorted(p.stat().st_size for _, p in log.backups())
    assert sizes == [2 * len(line), 2 * len(line)]
    assert (tmp_path / "a.log").read_bytes() == line
    log.close()


class SlowWriter:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.release = threading.Event()

    def write_lines(self, lines: list[bytes]) -> None:
        self.release.wait(10)
        self.data.append(b"".join(lines))

    def close(self) -> None:
        pass


def errors_counted(plugin: str) -> float:
    value = REGISTRY.get_sample_value("apiserver_audit_error_total", {"plugin": plugin})
    return value or 0.0


def test_the_log_backend_writes_lines_from_its_thread_and_drops_when_full() -> None:
    writer = SlowWriter()
    backend = LogBackend(writer, buffer_size=3)

    async def run() -> None:
        await backend.start()
        before = errors_counted("buffered")
        backend.process({"n": 0})
        # the writer takes event 0 and is stuck writing it
        await asyncio.to_thread(wait_for, lambda: not backend._queue, "the writer to take it")
        for n in range(1, 6):  # the writer is stuck: 3 fit, 2 are dropped
            backend.process({"n": n})
        assert errors_counted("buffered") - before == 2
        writer.release.set()
        await backend.stop()

    asyncio.run(run())
    lines = b"".join(writer.data).splitlines()
    assert [orjson.loads(line)["n"] for line in lines] == [0, 1, 2, 3]
    assert backend.written == 4


def test_the_log_file_is_created_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        log = logfile.RotatingFile(tmp_path / "x" / "audit.log")
    finally:
        os.umask(old)
    assert (tmp_path / "x" / "audit.log").stat().st_mode & 0o777 == 0o600
    log.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("audit.log", "audit-1970-01-01T00-00-01.500.log"),
        ("audit", "audit-1970-01-01T00-00-01.500"),
    ],
)
def test_backup_names(name: str, expected: str) -> None:
    assert logfile.backup_name(name, 1.5) == expected
