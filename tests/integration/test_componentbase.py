"""The shared component pieces against real sockets and a real apiserver."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from minik8s.api.resources import CONFIGMAPS, EVENTS
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.componentbase.events import EventRecorder
from minik8s.componentbase.health import HealthServer
from tests.support.waiting import async_wait_for, wait_for


async def test_health_server_answers_checks_and_metrics() -> None:
    healthy = {"value": True}
    server = HealthServer(liveness={"loop": lambda: True},
                          readiness={"synced": lambda: healthy["value"]})  # fmt: skip
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/healthz")).text == "ok"
            assert (await http.get("/readyz")).status_code == 200
            healthy["value"] = False
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 500 and "synced" in not_ready.text
            assert (await http.get("/healthz")).status_code == 200
            assert "python_info" in (await http.get("/metrics")).text
            assert (await http.get("/nope")).status_code == 404
    finally:
        await server.stop()


async def test_event_recorder_creates_then_counts(kubeconfig: Path, ns: str) -> None:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:
        cm = await client.create(
            CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ev"}}, ns
        )
        recorder = EventRecorder(client, "test-component", host="host-1")
        recorder.start()
        for _ in range(3):
            recorder.record(cm, "Normal", "Tested", "it happened")
        recorder.record(cm, "Warning", "Other", "something else")
        await recorder.stop(flush_seconds=10)

        async def events() -> list[dict]:
            return (await client.list(EVENTS, ns))["items"]

        items = await async_wait_for(events, "events to be listed")
        by_reason = {e["reason"]: e for e in items}
        assert by_reason["Tested"]["count"] == 3
        assert by_reason["Tested"]["involvedObject"]["name"] == "ev"
        assert by_reason["Tested"]["source"] == {"component": "test-component", "host": "host-1"}
        assert by_reason["Other"]["type"] == "Warning" and by_reason["Other"]["count"] == 1


def test_runner_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "component.py"
    script.write_text(
        textwrap.dedent("""
        import asyncio
        from minik8s.componentbase import runner

        async def main(stop):
            print("started", flush=True)
            await stop.wait()
            await asyncio.sleep(0.1)
            print("cleaned up", flush=True)

        runner.run(main, "demo")
    """)
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        code = process.wait(10)
        assert code == 0
        assert process.stdout.read().strip() == "cleaned up"
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout:
            process.stdout.close()


def test_runner_cancels_a_main_that_ignores_the_stop(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent("""
        import asyncio
        from minik8s.componentbase import runner

        async def main(stop):
            print("started", flush=True)
            await asyncio.sleep(3600)

        runner.run(main, "stuck", grace_seconds=0.5)
    """)
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: process.poll() is not None, "the stuck component to exit", 10)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout:
            process.stdout.close()
