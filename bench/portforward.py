"""Port-forward throughput: a 100 MiB download through `kubectl port-forward` against `curl`
of the pod's IP directly, in one run, on a real cluster (`minik8s up --nodes 1`: HTTPS
everywhere, the apiserver relaying to a TLS kubelet with its client certificate).

    sudo .venv/bin/python -m bench.portforward [--size-mib 100] [--runs 3]

Runs alternate between the ways in (curl of the pod IP; kubectl 1.32's default, SPDY tunnelled
in a WebSocket; kubectl's plain SPDY; minikctl's WebSocket channels) and print MB/s with the
CPU seconds each process spent per download (apiserver, kubelet, the client), which says
where the time goes. Everything it starts is removed at the end (`minik8s down --purge`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.launcher import Launcher, make_launcher
from tests.support.processes import cpu_seconds, free_port
from tests.support.waiting import wait_for

MINIKCTL = [sys.executable, "-m", "minik8s.cli.minikctl.app"]


def kubectl(launcher: Launcher, *args: str) -> str:
    result = launcher.kubectl(*args)
    if result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def curl(url: str) -> float:
    """Seconds to download `url` to /dev/null (curl's own clock)."""
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", url],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return float(result.stdout)


def forwarder(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    local = free_port()
    process = subprocess.Popen(
        [*argv, f"{local}:80"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )

    def listening() -> bool:
        assert process.poll() is None, "the port-forward exited"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", local)) == 0

    wait_for(listening, "the port-forward to listen", timeout=30)
    return process, local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("kubectl") is None or shutil.which("curl") is None:
        raise SystemExit("needs kubectl and curl")
    home = Path(tempfile.mkdtemp(prefix="bench-portforward-"))
    launcher = make_launcher(home)
    try:
        launcher.up("--nodes", "1")
        pids = launcher.pids()
        kubeconfig = str(launcher.kubeconfig)
        env = {**os.environ, "KUBECONFIG": kubeconfig}
        kubectl(launcher, "run", "web", "--image=nginx", "--image-pull-policy=IfNotPresent")
        kubectl(launcher, "wait", "--for=condition=Ready", "pod/web", "--timeout=90s")
        kubectl(launcher, "exec", "web", "--", "sh", "-c",
                f"head -c {args.size_mib << 20} /dev/urandom > /var/www/html/big")  # fmt: skip
        ip = kubectl(launcher, "get", "pod", "web", "-o", "jsonpath={.status.podIP}").strip()
        size = args.size_mib << 20
        ways: dict[str, Callable[[], tuple[float, dict[str, float]]]] = {}

        def direct() -> tuple[float, dict[str, float]]:
            return curl(f"http://{ip}/big"), {}

        def through(
            argv: list[str], extra: dict[str, str]
        ) -> Callable[[], tuple[float, dict[str, float]]]:
            def run() -> tuple[float, dict[str, float]]:
                process, local = forwarder(argv, {**env, **extra})
                try:
                    curl(f"http://127.0.0.1:{local}/")  # the connection set up, then measure
                    watched = {"apiserver": pids["apiserver"], "kubelet": pids["kubelet-node-1"],
                               "client": process.pid}  # fmt: skip
                    before = {k: cpu_seconds(p) for k, p in watched.items()}
                    seconds = curl(f"http://127.0.0.1:{local}/big")
                    return seconds, {k: cpu_seconds(p) - before[k] for k, p in watched.items()}
                finally:
                    process.terminate()
                    process.wait(timeout=10)

            return run

        pf = ["kubectl", "--kubeconfig", kubeconfig, "port-forward", "pod/web"]
        ways["curl of the pod IP (direct)"] = direct
        ways["kubectl port-forward (SPDY in WebSocket)"] = through(pf, {})
        ways["kubectl port-forward (plain SPDY)"] = through(
            pf, {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
        )
        ways["minikctl port-forward (WebSocket)"] = through(
            [*MINIKCTL, "--kubeconfig", kubeconfig, "port-forward", "pod/web"], {}
        )
        results: dict[str, list[tuple[float, dict[str, float]]]] = {w: [] for w in ways}
        for _ in range(args.runs):
            for name, way in ways.items():
                results[name].append(way())
                time.sleep(0.5)
        direct_rate = statistics.median(size / r[0] for r in results["curl of the pod IP (direct)"])
        print(f"\n{args.size_mib} MiB download, {args.runs} runs each, alternating (median)")
        print(f"{'way':<42} {'MB/s':>8} {'x direct':>9}   CPU s per download")
        for name, runs in results.items():
            rate = statistics.median(size / r[0] for r in runs)
            cpu = runs[len(runs) // 2][1]
            shown = "  ".join(f"{k} {v:.2f}" for k, v in cpu.items())
            print(f"{name:<42} {rate / 1e6:8.0f} {rate / direct_rate:9.2f}   {shown}")
    finally:
        launcher.teardown()
        launcher.run("down", "--purge")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
