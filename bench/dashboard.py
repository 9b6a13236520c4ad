"""The dashboard at scale, measured in headless Chromium with the Performance API.

    .venv/bin/python -m bench.dashboard [--nodes 100] [--pods 3000] [--churn 100] [--seconds 10]

A fresh etcd and apiserver (HTTPS, tokens, RBAC, the audit webhook pointed at the dashboard)
and a real `minik8s-dashboard`; `--nodes` hollow Node objects and `--pods` pods bound to them
(objects only: no kubelet runs them). Then, signed in as the admin:

- first meaningful paint of /pods (all namespaces): navigation start -> the first render of
  the table with rows (`performance.mark("rows:pods")`), and of /architecture with every node
  box drawn (`arch:nodes`);
- while `--churn` pods/s are created and deleted (alternately), for `--seconds`: the page's
  frame rate and its longest frame (requestAnimationFrame in the page), once on /pods and
  once on /architecture (every audit event animated), and the dashboard process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import post, session
from minik8s.client.kubeconfig import kubeconfig_document
from minik8s.dashboard import grants
from tests.support.browser import chromium
from tests.support.dashboard import DashboardProcess
from tests.support.processes import Apiserver, Etcd, cpu_seconds, free_port, temp_dir
from tests.support.waiting import wait_for

FRAMES_JS = """
const done = arguments[arguments.length - 1];
const seconds = arguments[0];
let frames = 0, worst = 0, last = performance.now();
const start = last;
function tick(now) {
  frames++; worst = Math.max(worst, now - last); last = now;
  if (now - start < seconds * 1000) requestAnimationFrame(tick);
  else done({fps: frames / ((now - start) / 1000), worst_ms: worst});
}
requestAnimationFrame(tick);
"""
PAINT_JS = """
const [mark] = performance.getEntriesByName(arguments[0]);
return mark ? mark.startTime : null;
"""


def node(name: str) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
    capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"type": "hollow"}},
        "status": {"capacity": capacity, "allocatable": capacity, "conditions": [ready]},
    }


def bound_pod(name: str, node_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}]},
    }


async def populate(server: Apiserver, nodes: int, pods: int) -> None:
    async with session(server, 50) as http:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}
        await post(http, "/api/v1/namespaces", orjson.dumps(ns))
        sem = asyncio.Semaphore(50)

        async def one(path: str, body: dict[str, Any]) -> None:
            async with sem:
                await post(http, path, orjson.dumps(body))

        await asyncio.gather(*(one("/api/v1/nodes", node(f"hollow-{i}")) for i in range(nodes)))
        await asyncio.gather(
            *(
                one("/api/v1/namespaces/bench/pods", bound_pod(f"p{i}", f"hollow-{i % nodes}"))
                for i in range(pods)
            )
        )


async def churn(server: Apiserver, rate: int, seconds: float, nodes: int, run: int) -> int:
    """Create and delete pods at `rate` per second in all (half each) for `seconds`."""
    done = 0
    async with session(server, 50) as http:
        start = time.monotonic()
        i = 0
        tasks: set[asyncio.Task[None]] = set()

        async def create(n: int) -> None:
            body = orjson.dumps(bound_pod(f"churn-{run}-{n}", f"hollow-{n % nodes}"))
            await post(http, "/api/v1/namespaces/bench/pods", body)

        async def delete(n: int) -> None:
            async with http.delete(
                f"/api/v1/namespaces/bench/pods/churn-{run}-{n}?gracePeriodSeconds=0"
            ) as r:
                await r.read()

        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * rate)
            while i < due:
                op = create(i // 2) if i % 2 == 0 else delete(i // 2)
                task = asyncio.create_task(op)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
                done += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks, return_exceptions=True)
    return done


def measure_under_churn(driver: Any, server: Apiserver, dash_pid: int, args: Any, run: int) -> str:
    cpu0 = cpu_seconds(dash_pid)
    driver.set_script_timeout(args.seconds + 60)
    result: dict[str, Any] = {}

    def frames() -> None:
        result.update(driver.execute_async_script(FRAMES_JS, args.seconds))

    import threading

    watcher = threading.Thread(target=frames)
    watcher.start()
    sent = asyncio.run(churn(server, args.churn, args.seconds, args.nodes, run))
    watcher.join()
    cpu = (cpu_seconds(dash_pid) - cpu0) / args.seconds * 100
    return (
        f"{result['fps']:.0f} frames/s, longest frame {result['worst_ms']:.0f} ms, "
        f"dashboard CPU {cpu:.0f}% of a core ({sent / args.seconds:.0f} writes/s sent)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--churn", type=int, default=100, help="pod creates+deletes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    work = temp_dir("minik8s-bench-dashboard-")
    etcd = Etcd(work / "etcd")
    port, hook_token = free_port(), secrets.token_urlsafe(24)
    policy = work / "policy.yaml"
    policy.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
        "rules:\n- level: Metadata\n"
    )
    hook = work / "hook.conf"
    hook_url = f"http://127.0.0.1:{port}/audit/webhook"
    hook.write_text(yaml.safe_dump(kubeconfig_document(hook_url, None, "a", {"token": hook_token})))
    etcd.start()
    server = Apiserver(
        etcd.url,
        work / "apiserver",
        token=secrets.token_hex(16),
        extra_args=[
            "--authorization-mode=RBAC",
            f"--audit-policy-file={policy}",
            f"--audit-webhook-config-file={hook}",
            "--audit-webhook-batch-max-wait=200ms",
            "--audit-webhook-batch-throttle-qps=50",
        ],
    )
    dashboard: DashboardProcess | None = None
    try:
        server.start()
        assert server.ca_file is not None
        own = work / "dashboard.conf"
        own.write_text(
            yaml.safe_dump(kubeconfig_document(server.url, server.ca_file.read_bytes(), "none", {}))
        )
        dashboard = DashboardProcess(own, work / "dashboard", audit_token=hook_token, port=port)
        dashboard.start()
        started = time.monotonic()
        asyncio.run(populate(server, args.nodes, args.pods))
        print(
            f"{args.nodes} hollow nodes and {args.pods} pods created in "
            f"{time.monotonic() - started:.1f}s"
        )
        assert dashboard.process is not None and dashboard.process.popen is not None
        dash_pid = dashboard.process.popen.pid
        with chromium() as driver:
            code = grants.mint(dashboard.grant_dir, grants.Credential(token=server.token))
            driver.get(f"{dashboard.url}/login?code={code}")
            wait_for(lambda: driver.find_elements("id", "who"), "sign-in", timeout=60)
            for page, mark in (("pods", "rows:pods"), ("architecture", "arch:nodes")):
                paints = []
                for _ in range(3):
                    driver.get(f"{dashboard.url}/{page}")
                    paints.append(
                        wait_for(
                            lambda m=mark: driver.execute_script(PAINT_JS, m),
                            f"{mark} on /{page}",
                            timeout=60,
                        )
                    )
                print(
                    f"first meaningful paint of /{page} ({args.pods} pods, {args.nodes} "
                    f"nodes): {min(paints):.0f} ms best, {max(paints):.0f} ms worst of 3"
                )
                print(
                    f"/{page} under {args.churn} pod writes/s: "
                    f"{measure_under_churn(driver, server, dash_pid, args, len(page))}"
                )
    finally:
        if dashboard is not None:
            dashboard.stop()
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
