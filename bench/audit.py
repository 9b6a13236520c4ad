"""What auditing costs the apiserver: alternating runs with the audit log off and on.

    .venv/bin/python -m bench.audit [--pairs 3] [--requests 3000] [--level Metadata]

Each run starts a fresh etcd and apiserver (HTTPS, token, AlwaysAllow), creates `--requests`
pods then gets each of them from 50 concurrent clients, and prints the rates and the
apiserver's CPU per request (its writer thread included); runs alternate off/on so the
machine's noise spreads over both. Then, in this process, the audit path alone: a request's
context, events and log writes, per request, on the event loop and in the writer thread.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import pod, post, run_concurrently, session
from minik8s.apiserver.audit.auditor import Auditor, audit_id
from minik8s.apiserver.audit.logbackend import LogBackend
from minik8s.apiserver.audit.logfile import RotatingFile
from minik8s.apiserver.audit.policy import parse_policy
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import parse
from tests.support.processes import Apiserver, Etcd, cpu_seconds, temp_dir

CLIENTS = 50


def policy_text(level: str) -> str:
    return f"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: {level}\n"


async def load(server: Apiserver, total: int) -> dict[str, tuple[float, float]]:
    """{verb: (requests/s, apiserver CPU ms per request)}."""
    assert server.process is not None and server.process.popen is not None
    pid = server.process.popen.pid
    found: dict[str, tuple[float, float]] = {}
    async with session(server, CLIENTS + 10) as http:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
        await post(http, "/api/v1/namespaces", orjson.dumps(namespace))
        bodies = [orjson.dumps(pod(f"p{i}")) for i in range(total)]

        async def create(i: int) -> None:
            await post(http, "/api/v1/namespaces/bench/pods", bodies[i])

        async def get(i: int) -> None:
            async with http.get(f"/api/v1/namespaces/bench/pods/p{i}") as r:
                await r.read()

        for verb, op in (("create", create), ("get", get)):
            cpu = cpu_seconds(pid)
            seconds, _ = await run_concurrently(total, CLIENTS, op)
            found[verb] = (total / seconds, (cpu_seconds(pid) - cpu) / total * 1000)
    return found


def one_run(level: str | None, total: int) -> dict[str, tuple[float, float]]:
    work = temp_dir("minik8s-bench-audit-")
    etcd = Etcd(work / "etcd")
    extra = []
    if level:
        (work / "policy.yaml").write_text(policy_text(level))
        extra = [f"--audit-policy-file={work / 'policy.yaml'}",
                 f"--audit-log-path={work / 'audit.log'}"]  # fmt: skip
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(8), extra_args=extra)
    try:
        etcd.start()
        server.start()
        return asyncio.run(load(server, total))
    finally:
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def in_process(level: str, total: int = 20_000) -> tuple[float, float]:
    """(µs on the event loop, µs in all) per request of the audit path alone: a create's
    context, its two events, the request object, the response, the log thread's writes."""
    policy = parse_policy(
        {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": level}]}
    )
    user = UserInfo("admin", "admin-uid", ("system:masters", "system:authenticated"))
    path = "/api/v1/namespaces/bench/pods"
    scope: dict[str, Any] = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"Python/3.11 aiohttp/3.9"),
                    (b"authorization", b"Bearer x"), (b"content-type", b"application/json")],
    }  # fmt: skip
    body = orjson.dumps(pod("p"))
    sent = orjson.loads(body)  # decoded by the request's handler anyway
    with tempfile.TemporaryDirectory() as tmp:
        backend = LogBackend(RotatingFile(Path(tmp) / "audit.log"), buffer_size=10 * total)
        auditor = Auditor(policy, [backend])

        async def run() -> tuple[float, float]:
            await auditor.start()
            started, loop_started = time.process_time(), time.thread_time()
            for i in range(total):
                attrs = parse(user, "POST", path)
                context = auditor.begin(scope, audit_id([]), time.time(), user, attrs)
                assert context is not None
                context.log_decision(True, "")
                context.log_request_object(sent)
                context.on_send({"type": "http.response.start", "status": 201,
                                 "headers": [(b"content-type", b"application/json")]})  # fmt: skip
                context.on_send({"type": "http.response.body", "body": body})
                context.finish()
                if i % CLIENTS == 0:
                    await asyncio.sleep(0)
            on_loop = time.thread_time() - loop_started
            await auditor.stop()
            return on_loop, time.process_time() - started

        on_loop, overall = asyncio.run(run())
    return on_loop / total * 1e6, overall / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="off/on pairs of runs")
    parser.add_argument("--requests", type=int, default=3000, help="creates, then gets, per run")
    parser.add_argument("--level", default="Metadata",
                        choices=["Metadata", "Request", "RequestResponse"])  # fmt: skip
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    for _ in range(args.pairs):
        for level in (None, args.level):
            rows.append((level or "off", one_run(level, args.requests)))
    print(f"{args.requests} creates then gets per run, {CLIENTS} clients, HTTPS, AlwaysAllow")
    print(f"{'audit':>16} {'create/s':>9} {'CPU ms':>7} {'get/s':>7} {'CPU ms':>7}")
    for name, found in rows:
        (create_rate, create_cpu), (get_rate, get_cpu) = found["create"], found["get"]
        print(f"{name:>16} {create_rate:>9.0f} {create_cpu:>7.3f} {get_rate:>7.0f} {get_cpu:>7.3f}")
    for verb in ("create", "get"):
        off = [found[verb][1] for name, found in rows if name == "off"]
        on = [found[verb][1] for name, found in rows if name != "off"]
        print(f"apiserver CPU per {verb}: off {sum(off) / len(off):.3f} ms, "
              f"{args.level} {sum(on) / len(on):.3f} ms (means)")  # fmt: skip
    loop, overall = in_process(args.level)
    print(f"the audit path alone, in process: {loop:.1f} µs per request on the event loop, "
          f"{overall:.1f} µs with the writer thread")  # fmt: skip


if __name__ == "__main__":
    main()
