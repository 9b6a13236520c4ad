"""Client CPU per request: `ApiClient` against bare aiohttp and bare httpx, over HTTPS.

    .venv/bin/python -m bench.client [--requests 2000]

Sequential GETs of one Namespace from a fresh etcd + apiserver; prints the client process's
CPU time per request (what every component pays per call) and the wall time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api.resources import NAMESPACES
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from tests.support.processes import Apiserver, Etcd, temp_dir

PATH = "/api/v1/namespaces/default"


async def measure(label: str, requests: int, get: Callable[[], Awaitable[None]]) -> None:
    await get()  # connect first
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        await get()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<22} {1e3 * cpu / requests:6.3f} ms CPU  {1e3 * wall / requests:6.3f} ms wall")


async def run(server: Apiserver, kubeconfig: Path, requests: int) -> None:
    async with ApiClient(load_kubeconfig(kubeconfig)) as client:

        async def api_get() -> None:
            await client.get(NAMESPACES, "default")

        await measure("ApiClient", requests, api_get)

    verify = server.verify if isinstance(server.verify, ssl.SSLContext) else False
    headers = {"Authorization": f"Bearer {server.token}"}
    connector = aiohttp.TCPConnector(ssl=verify)
    async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as http:

        async def aiohttp_get() -> None:
            async with http.get(PATH) as response:
                await response.read()

        await measure("aiohttp alone", requests, aiohttp_get)

    async with httpx.AsyncClient(base_url=server.url, headers=headers, verify=verify) as hx:

        async def httpx_get() -> None:
            (await hx.get(PATH)).raise_for_status()

        await measure("httpx alone", requests, httpx_get)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    work = temp_dir("minik8s-bench-client-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    server = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
    try:
        server.start()
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        asyncio.run(run(server, kubeconfig, args.requests))
    finally:
        server.stop()
        etcd.stop()


if __name__ == "__main__":
    main()
