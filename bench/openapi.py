"""OpenAPI documents: what building them costs, and what serving them from the pre-encoded
cache costs, then the first `kubectl explain` against a fresh apiserver.

    .venv/bin/python -m bench.openapi [--requests 300]

Prints: the in-process build time of every document (the type graph from the models, the
v3 documents, v2 as JSON and as protobuf) and their sizes; per endpoint the mean latency and
rate of full answers (200) and of revalidations (If-None-Match: 304), over HTTPS from one
client; then `kubectl explain pod.spec.containers` wall time with an empty kubectl cache
(discovery + the /openapi/v3 index + the core document) and with a warm one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.processes import Apiserver, Etcd, temp_dir

ENDPOINTS = (
    ("/openapi/v3", "application/json"),
    ("/openapi/v3/api/v1", "application/json"),
    ("/openapi/v3/apis/apps/v1", "application/json"),
    ("/openapi/v2", "application/json"),
    ("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
)


def build_figures() -> None:
    started = time.perf_counter()
    from minik8s.api.schema import graph

    graph.graph()
    graphed = time.perf_counter()
    from minik8s.apiserver import openapi_serving

    documents = openapi_serving.Documents()
    done = time.perf_counter()
    print(
        f"build: type graph {(graphed - started) * 1000:.0f} ms (imports included), "
        f"all documents {(done - graphed) * 1000:.0f} ms"
    )
    sizes = {name: len(doc.body) for name, doc in documents.v3.items()}
    print(
        f"sizes: v3 {len(sizes)} group versions, {sum(sizes.values()) // 1024} KiB in all "
        f"(api/v1 {sizes['api/v1'] // 1024} KiB); v2 JSON {len(documents.v2_json.body) // 1024} "
        f"KiB (gzip {len(documents.v2_json.gzipped or b'') // 1024} KiB), v2 protobuf "
        f"{len(documents.v2_proto.body) // 1024} KiB"
    )


def serve_figures(server: Apiserver, requests: int) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, verify=server.verify, headers=headers) as client:
        print(f"{'endpoint':<52} {'200 ms':>7} {'200/s':>7} {'304 ms':>7} {'304/s':>7}")
        for path, accept in ENDPOINTS:
            first = client.get(path, headers={"Accept": accept})
            assert first.status_code == 200, (path, first.status_code)
            etag = first.headers["etag"]
            rates = []
            for extra in ({}, {"If-None-Match": etag}):
                started = time.perf_counter()
                for _ in range(requests):
                    r = client.get(path, headers={"Accept": accept, **extra})
                    assert r.status_code == (304 if extra else 200)
                elapsed = time.perf_counter() - started
                rates += [elapsed / requests * 1000, requests / elapsed]
            kind = "protobuf" if "protobuf" in accept else "json"
            label = f"{path} ({kind}, {len(first.content) // 1024} KiB)"
            print(
                f"{label:<52} {rates[0]:>7.2f} {rates[1]:>7.0f} {rates[2]:>7.2f} {rates[3]:>7.0f}"
            )


def explain_figures(server: Apiserver, work: Path) -> None:
    if shutil.which("kubectl") is None:
        print("kubectl not installed: no explain figures")
        return
    kubeconfig = server.write_kubeconfig(work / "kubeconfig")
    cache = Path(tempfile.mkdtemp(prefix="minik8s-kubectl-cache-"))
    try:
        for label in ("empty cache", "warm cache", "warm cache"):
            started = time.perf_counter()
            result = subprocess.run(
                ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache),
                 "explain", "pod.spec.containers"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            assert result.returncode == 0, result.stderr
            print(f"kubectl explain pod.spec.containers, {label}: {elapsed:.2f} s (target <= 1 s)")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    args = parser.parse_args()
    build_figures()
    work = temp_dir("minik8s-bench-openapi-")
    etcd = Etcd(work / "etcd")
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(8))
    try:
        etcd.start()
        server.start()
        explain_figures(server, work)
        serve_figures(server, args.requests)
    finally:
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
