"""The audit log and webhook of a real apiserver (`--authorization-mode=RBAC`, tokens).

Every request is found in the log by the `Audit-Id` header of its response. The policy
below exercises rule matching (by user, non-resource URL, namespace + resource, verb) and
levels; the webhook is a real HTTP server on 127.0.0.1 that records each POST; a second
apiserver, whose webhook holds every POST, shows a full buffer dropping events (counted)
while requests go on being served.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from minik8s.client.kubeconfig import kubeconfig_document
from tests.support.api import Api, pod_manifest
from tests.support.processes import Apiserver, Etcd, temp_dir
from tests.support.waiting import wait_for

JANE_TOKEN, QUIET_TOKEN = secrets.token_hex(8), secrets.token_hex(8)
WEBHOOK_TOKEN = secrets.token_hex(8)
BIG = "audit-big"

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "rules": [
        {"level": "None", "nonResourceURLs": ["/readyz", "/healthz*", "/livez*"]},
        {"level": "None", "users": ["quiet"]},
        {
            "level": "RequestResponse",
            "namespaces": [BIG],
            "resources": [{"group": "", "resources": ["configmaps"]}],
        },
        {
            "level": "Request",
            "resources": [{"group": "", "resources": ["configmaps"]}],
            "omitStages": ["RequestReceived"],
        },
        {"level": "Metadata"},
    ],
}


@dataclass
class Webhook:
    """A real HTTP server that records audit POSTs; `hold` keeps them waiting."""

    token: str = WEBHOOK_TOKEN
    batches: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    hold: threading.Event | None = None
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.hold is not None:
                    hook.hold.wait(30)
                hook.headers.append(dict(self.headers))
                hook.batches.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/audit"

    def kubeconfig(self, path: Path) -> Path:
        document = kubeconfig_document(self.url, None, "apiserver", {"token": self.token})
        path.write_text(yaml.safe_dump(document))
        return path

    def items(self) -> list[dict[str, Any]]:
        return [item for batch in list(self.batches) for item in batch["items"]]

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Audited:
    server: Apiserver
    log: Path
    webhook: Webhook

    def api(self, token: str | None = None) -> Api:
        api = Api(self.server)
        if token is not None:
            api.http.headers["Authorization"] = f"Bearer {token}"
        return api

    def events(self) -> list[dict[str, Any]]:
        """Every event in the log, rotated files (oldest first) then the current one."""
        files = [*sorted(self.log.parent.glob("audit-*.log")), self.log]
        lines = [line for f in files if f.exists() for line in f.read_text().splitlines()]
        return [json.loads(line) for line in lines]

    def of(self, audit_id: str, stages: int) -> list[dict[str, Any]]:
        """The events of one request, once `stages` of them are written."""

        def found() -> list[dict[str, Any]] | None:
            mine = [e for e in self.events() if e["auditID"] == audit_id]
            return mine if len(mine) >= stages else None

        return wait_for(found, f"{stages} audit events of request {audit_id}", timeout=10)


@pytest.fixture(scope="module")
def audited(etcd_server: Etcd) -> Iterator[Audited]:
    work = temp_dir("minik8s-audit-")
    webhook = Webhook()
    webhook.start()
    policy = work / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    log = work / "logs" / "audit.log"
    server = Apiserver(
        etcd_server.url,
        work / "apiserver",
        token=secrets.token_hex(16),
        extra_tokens={JANE_TOKEN: "jane", QUIET_TOKEN: "quiet"},
        extra_args=[
            "--authorization-mode=RBAC",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={log}",
            "--audit-log-maxsize=1",
            "--audit-log-maxbackup=2",
            f"--audit-webhook-config-file={webhook.kubeconfig(work / 'webhook.conf')}",
            "--audit-webhook-batch-max-wait=100ms",
            "--audit-webhook-batch-max-size=50",
            "--audit-webhook-batch-throttle-enable=false",
        ],
    )
    server.start()
    try:
        yield Audited(server, log, webhook)
    finally:
        server.stop()
        webhook.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_create_get_watch_and_a_denied_request_each_give_their_events(audited: Audited) -> None:
    admin = audited.api()
    ns = admin.namespace()
    created = admin.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("web"))
    assert created.status_code == 201, created.text
    received, complete = audited.of(created.headers["Audit-Id"], 2)
    assert [received["stage"], complete["stage"]] == ["RequestReceived", "ResponseComplete"]
    assert complete["level"] == "Metadata"
    assert complete["verb"] == "create"
    assert complete["requestURI"] == f"/api/v1/namespaces/{ns}/pods"
    assert complete["user"] == {
        "username": "admin",
        "uid": "admin-uid",
        "groups": ["system:masters", "system:authenticated"],
    }
    assert complete["sourceIPs"] == ["127.0.0.1"]
    assert complete["userAgent"].startswith("python-httpx/")
    assert complete["objectRef"] == {
        "resource": "pods",
        "namespace": ns,
        "name": "web",
        "apiVersion": "v1",
    }
    assert complete["responseStatus"] == {"metadata": {}, "code": 201}
    assert complete["annotations"] == {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": "",
    }
    assert "requestObject" not in complete and "responseObject" not in complete
    assert complete["requestReceivedTimestamp"] == received["stageTimestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", complete["stageTimestamp"])

    got = admin.get(f"/api/v1/namespaces/{ns}/pods/web", headers={"Audit-ID": "my-own-id"})
    assert got.headers["Audit-Id"] == "my-own-id"
    events = audited.of("my-own-id", 2)
    assert [e["verb"] for e in events] == ["get", "get"]
    assert events[1]["responseStatus"]["code"] == 200

    with admin.http.stream(
        "GET", f"/api/v1/namespaces/{ns}/pods", params={"watch": "1", "timeoutSeconds": "1"}
    ) as watch:
        assert watch.status_code == 200
        watch.read()
        watch_id = watch.headers["Audit-Id"]
    stages = [e["stage"] for e in audited.of(watch_id, 3)]
    assert stages == ["RequestReceived", "ResponseStarted", "ResponseComplete"]

    jane = audited.api(JANE_TOKEN)
    denied = jane.get(f"/api/v1/namespaces/{ns}/pods")
    assert denied.status_code == 403
    complete = audited.of(denied.headers["Audit-Id"], 2)[1]
    assert complete["user"]["username"] == "jane"
    assert complete["verb"] == "list"
    assert complete["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert complete["responseStatus"]["reason"] == "Forbidden"
    assert complete["responseStatus"]["code"] == 403
    assert 'User "jane" cannot list resource "pods"' in complete["responseStatus"]["message"]
    admin.close()
    jane.close()


def test_impersonation_and_failed_authentication(audited: Audited) -> None:
    admin = audited.api()
    acting = admin.get("/api/v1/namespaces/default/secrets", headers={"Impersonate-User": "jane"})
    assert acting.status_code == 403
    complete = audited.of(acting.headers["Audit-Id"], 2)[1]
    assert complete["user"]["username"] == "admin"  # the authenticated user
    assert complete["impersonatedUser"] == {"username": "jane", "groups": ["system:authenticated"]}
    assert complete["annotations"]["authorization.k8s.io/decision"] == "forbid"

    # an allowed request carries the binding that allowed it, as Kubernetes' RBAC words it
    ns = admin.namespace()
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    role = {"kind": "Role", "metadata": {"name": "reader"}, "rules": [rule]}
    assert admin.post(f"{rbac}/roles", role).status_code == 201
    grant = {
        "kind": "RoleBinding",
        "metadata": {"name": "jane-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "jane"}],
    }
    assert admin.post(f"{rbac}/rolebindings", grant).status_code == 201
    jane = audited.api(JANE_TOKEN)
    path = f"/api/v1/namespaces/{ns}/pods/none"  # allowed, then not found
    allowed = wait_for(
        lambda: (r := jane.get(path)).status_code != 403 and r, "the binding to take effect"
    )
    complete = audited.of(allowed.headers["Audit-Id"], 2)[1]
    assert complete["annotations"] == {
        "authorization.k8s.io/decision": "allow",
        "authorization.k8s.io/reason": (
            f'RBAC: allowed by RoleBinding "jane-reads/{ns}" of Role "reader" to User "jane"'
        ),
    }
    jane.close()

    stranger = audited.api("not-a-token")
    refused = stranger.get("/api/v1/namespaces")
    assert refused.status_code == 401
    (only,) = audited.of(refused.headers["Audit-Id"], 1)
    assert only["stage"] == "ResponseStarted"
    assert only["user"] == {}
    assert only["responseStatus"]["code"] == 401
    assert only["responseStatus"]["reason"] == "Unauthorized"
    admin.close()
    stranger.close()


def test_levels_and_rule_matching(audited: Audited) -> None:
    admin = audited.api()
    ns = admin.namespace()
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "v"},
    }
    created = admin.post(f"/api/v1/namespaces/{ns}/configmaps", config)
    assert created.status_code == 201
    (complete,) = audited.of(created.headers["Audit-Id"], 1)  # RequestReceived omitted
    assert complete["stage"] == "ResponseComplete"
    assert complete["level"] == "Request"
    assert complete["requestObject"] == config
    assert "responseObject" not in complete

    patched = admin.patch(
        f"/api/v1/namespaces/{ns}/configmaps/c",
        {"data": {"k": "w"}},
        "application/merge-patch+json",
    )
    assert patched.status_code == 200
    (complete,) = audited.of(patched.headers["Audit-Id"], 1)
    assert complete["verb"] == "patch"
    assert complete["requestObject"] == {"data": {"k": "w"}}

    version = admin.get("/version")
    complete = audited.of(version.headers["Audit-Id"], 2)[1]
    assert complete["verb"] == "get" and complete["requestURI"] == "/version"
    assert "objectRef" not in complete

    quiet = audited.api(QUIET_TOKEN)
    ignored = [
        quiet.get("/api/v1/namespaces").headers["Audit-Id"],  # users: [quiet] -> None
        admin.get("/readyz").headers["Audit-Id"],  # nonResourceURLs -> None
    ]
    sentinel = admin.get("/api/v1/namespaces/default")
    audited.of(sentinel.headers["Audit-Id"], 2)  # written after the ignored ones would be
    assert not [e for e in audited.events() if e["auditID"] in ignored]
    admin.close()
    quiet.close()


def test_the_webhook_receives_event_lists_in_batches(audited: Audited) -> None:
    admin = audited.api()
    ids = [admin.get(f"/api/v1/namespaces/default?n={i}").headers["Audit-Id"] for i in range(60)]

    def delivered() -> bool:
        seen = {(e["auditID"], e["stage"]) for e in audited.webhook.items()}
        return all((i, "ResponseComplete") in seen for i in ids)

    wait_for(delivered, "the webhook to receive the events of 60 requests", timeout=15)
    batches = audited.webhook.batches
    assert len(batches) >= 3  # 120 events, at most 50 per POST
    assert all(len(b["items"]) <= 50 for b in batches)
    assert all(b["kind"] == "EventList" and b["apiVersion"] == "audit.k8s.io/v1" for b in batches)
    headers = audited.webhook.headers[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    logged = [e for e in audited.events() if e["auditID"] == ids[0]]
    hooked = [e for e in audited.webhook.items() if e["auditID"] == ids[0]]
    assert hooked == logged  # the same events, whichever the backend
    admin.close()


def test_the_log_rotates_keeping_maxbackup_files_private(audited: Audited) -> None:
    """Runs last in this module: rotation removes the oldest events."""
    admin = audited.api()
    assert admin.post(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BIG}}
    ).status_code in (201, 409)
    payload = "x" * 200_000
    last = ""
    for i in range(12):  # each ResponseComplete holds the object twice: ~400 KB a line
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{i}"},
                "data": {"payload": payload}}  # fmt: skip
        created = admin.post(f"/api/v1/namespaces/{BIG}/configmaps", body)
        assert created.status_code == 201, created.text
        last = created.headers["Audit-Id"]
    complete = audited.of(last, 2)[1]
    assert complete["level"] == "RequestResponse"
    assert complete["responseObject"]["metadata"]["name"] == "big-11"
    assert complete["requestObject"]["data"]["payload"] == payload

    def rotated() -> list[Path]:
        backups = sorted(audited.log.parent.glob("audit-*.log"))
        return backups if len(backups) == 2 else []

    backups = wait_for(rotated, "two rotated audit logs (--audit-log-maxbackup=2)")
    pattern = r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log"
    assert all(re.fullmatch(pattern, b.name) for b in backups)
    for path in [*backups, audited.log]:
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.stat().st_size <= 1024 * 1024 + 500_000  # a rotation at each 1 MiB
    admin.close()


def test_a_full_webhook_buffer_drops_events_and_requests_go_on(etcd_server: Etcd) -> None:
    work = temp_dir("minik8s-audit-full-")
    webhook = Webhook(hold=threading.Event())
    webhook.start()
    policy = work / "policy.yaml"
    policy.write_text(yaml.safe_dump({**POLICY, "rules": [{"level": "Metadata"}]}))
    server = Apiserver(
        etcd_server.url,
        work / "apiserver",
        token=secrets.token_hex(16),
        extra_args=[
            f"--audit-policy-file={policy}",
            f"--audit-webhook-config-file={webhook.kubeconfig(work / 'webhook.conf')}",
            "--audit-webhook-batch-buffer-size=10",
            "--audit-webhook-batch-max-size=5",
            "--audit-webhook-batch-max-wait=50ms",
            "--audit-webhook-batch-throttle-enable=false",
        ],
    )
    try:
        server.start()
        api = Api(server)
        for i in range(60):  # 120 events; 8 held POSTs of 5 and a buffer of 10 take 50
            assert api.get(f"/api/v1/namespaces/default?n={i}").status_code == 200

        def dropped() -> float:
            text = api.get("/metrics").text
            found = re.search(r'apiserver_audit_error_total\{plugin="buffered"\} (\S+)', text)
            return float(found.group(1)) if found else 0.0

        assert wait_for(dropped, "events dropped by the full buffer", timeout=60) >= 60
        text = api.get("/metrics").text
        assert re.search(r"^apiserver_audit_event_total \d{3}", text, re.M)  # 120 and more
        assert re.search(r'^apiserver_audit_level_total\{level="Metadata"\} \d{2}', text, re.M)
        webhook.hold.set()  # type: ignore[union-attr]
        wait_for(lambda: len(webhook.items()) >= 40, "the held batches to be delivered", timeout=60)
        api.close()
    finally:
        server.stop()
        webhook.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_every_response_carries_an_audit_id_even_without_auditing(api: Api) -> None:
    first, second = api.get("/version"), api.get("/api/v1/namespaces/default")
    assert re.fullmatch(r"[0-9a-f-]{36}", first.headers["Audit-Id"])
    assert first.headers["Audit-Id"] != second.headers["Audit-Id"]
    assert api.get("/healthz", headers={"Audit-ID": "x-1"}).headers["Audit-Id"] == "x-1"
    assert isinstance(httpx.Headers(first.headers), httpx.Headers)


def test_streaming_upgrades_are_audited_as_create_on_the_subresource(audited: Audited) -> None:
    """An exec upgrade refused before the connection is taken (no node yet: 400) and one
    refused after it (the kubelet cannot be dialled: 503) are both `create pods/exec`
    events with their code."""
    admin = audited.api()
    ns = admin.namespace()
    assert admin.post(f"/api/v1/namespaces/{ns}/pods", pod_manifest("web")).status_code == 201
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "SPDY/3.1",
        "X-Stream-Protocol-Version": "v4.channel.k8s.io",
    }
    exec_path = f"/api/v1/namespaces/{ns}/pods/web/exec"
    params = {"command": "true", "stdout": "1"}
    unscheduled = admin.http.post(
        exec_path, params=params, headers={**upgrade, "Audit-ID": "x-400"}
    )
    assert unscheduled.status_code == 400, unscheduled.text
    complete = audited.of("x-400", 3)[-1]
    assert complete["stage"] == "ResponseComplete"
    assert complete["verb"] == "create"
    assert complete["objectRef"]["subresource"] == "exec"
    assert complete["responseStatus"]["code"] == 400
    assert "does not have a host assigned" in complete["responseStatus"]["message"]

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    node = f"audit-node-{ns}"
    made = admin.post(
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": closed_port}},
            },
        },
    )
    assert made.status_code == 201, made.text
    try:
        bound = admin.post(
            f"/api/v1/namespaces/{ns}/pods/web/binding",
            {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
             "target": {"kind": "Node", "name": node}},
        )  # fmt: skip
        assert bound.status_code == 201, bound.text
        dialled = admin.http.post(
            exec_path, params=params, headers={**upgrade, "Audit-ID": "x-503"}
        )
        assert dialled.status_code == 503, dialled.text
        assert "error dialing backend" in dialled.json()["message"]
        stages = audited.of("x-503", 3)
        assert [e["stage"] for e in stages] == [
            "RequestReceived",
            "ResponseStarted",
            "ResponseComplete",
        ]
        assert stages[-1]["objectRef"]["subresource"] == "exec"
        assert stages[-1]["responseStatus"]["code"] == 503
    finally:
        admin.delete(f"/api/v1/nodes/{node}")
        admin.close()
