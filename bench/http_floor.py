"""What an apiserver create costs before any apiserver code runs: the floor under bench.api.

    .venv/bin/python -m bench.http_floor [--requests 4000]

Measures, on a fresh etcd, the CPU per operation of the two parts every create needs whatever
the apiserver does: (1) one HTTPS request to an ASGI app that does nothing, served by uvicorn
exactly as the apiserver is (uvloop, httptools, TLS), answered with a pod-sized body, and sent
by the aiohttp client bench.api uses; (2) one create-if-absent etcd Txn sent from Python
(gRPC), as the apiserver sends it. It also measures a raw aetcd put, bench.api's reference.
With both cores busy, the sum of (1) and (2) bounds any Python apiserver's create rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aetcd
import aiohttp
import orjson
from aetcd import rpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import CpuMeter, measured, pod
from minik8s import pki
from tests.support.processes import Etcd, Process, free_port, temp_dir
from tests.support.waiting import wait_for

CLIENTS = 50


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the request, answer 201 with a pod-sized JSON body: HTTP and TLS, nothing else."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({
        "type": "http.response.start",
        "status": 201,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": BODY})


BODY = orjson.dumps(pod("p"))


def serve(port: int, cert: str, key: str) -> None:
    import uvicorn

    uvicorn.run(
        "bench.http_floor:empty_app",
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
        ssl_certfile=cert,
        ssl_keyfile=key,
    )


async def per_operation(
    total: int, op: Callable[[int], Awaitable[None]], **pids: int
) -> tuple[float, dict[str, float]]:
    """Run `op` `total` times from CLIENTS workers; (rate, CPU ms per op of client and `pids`)."""
    seconds, _, cpu = await measured(CpuMeter(**pids), total, CLIENTS, op)
    return total / seconds, cpu


async def http_part(port: int, ca: Path, server_pid: int, total: int) -> dict[str, float]:
    context = ssl.create_default_context(cafile=str(ca))
    connector = aiohttp.TCPConnector(ssl=context, limit=100)
    async with aiohttp.ClientSession(f"https://127.0.0.1:{port}", connector=connector) as http:

        async def post(i: int) -> None:
            body = orjson.dumps(pod(f"p{i}"))
            headers = {"Content-Type": "application/json"}
            async with http.post("/api/v1/namespaces/bench/pods", data=body, headers=headers) as r:
                await r.read()

        await per_operation(200, post, server=server_pid)  # warm the connections
        _, cpu = await per_operation(total, post, server=server_pid)
    return cpu


async def etcd_part(
    etcd: Etcd, etcd_pid: int, total: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    value = BODY
    async with aetcd.Client(host="127.0.0.1", port=etcd.client_port) as client:

        async def put(i: int) -> None:
            await client.put(f"/raw/{i}".encode(), value)

        async def create(i: int) -> None:
            key = f"/registry/pods/bench/p{i}".encode()
            compare = rpc.Compare(
                result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, key=key, create_revision=0
            )
            write = rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))
            await client.kvstub.Txn(rpc.TxnRequest(compare=[compare], success=[write]))

        put_rate, put_cpu = await per_operation(total, put, etcd=etcd_pid)
        _, txn_cpu = await per_operation(total, create, etcd=etcd_pid)
    return put_rate, put_cpu, txn_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return

    work = temp_dir("minik8s-bench-floor-")
    etcd = Etcd(work / "etcd")
    certs = pki.ensure_serving_certificate(work / "pki")
    port = free_port()
    server = Process(
        "empty-asgi",
        [sys.executable, "-m", "bench.http_floor", "--serve", str(port), str(certs.cert),
         str(certs.key)],
        work / "server.log",
    )  # fmt: skip
    try:
        etcd.start()
        server.start()
        wait_for(lambda: _listening(port), "the empty ASGI server to listen", timeout=20)
        assert server.popen is not None and etcd.process is not None
        assert etcd.process.popen is not None
        http = asyncio.run(
            http_part(port, work / "pki" / "ca.crt", server.popen.pid, args.requests)
        )
        put_rate, put, txn = asyncio.run(etcd_part(etcd, etcd.process.popen.pid, args.requests))
    finally:
        server.stop()
        etcd.stop()

    cores = os.cpu_count() or 1
    floor = sum(http.values()) + sum(txn.values())
    print(f"machine: {cores} cores; {args.requests} operations, {CLIENTS} clients; CPU ms per op")
    print(f"  raw aetcd put (bench.api's reference): {_split(put)}, {put_rate:.0f}/s")
    print(f"  HTTPS request to an empty ASGI app:   {_split(http)}")
    print(f"  create-if-absent Txn over gRPC:       {_split(txn)}")
    print(
        f"  floor of one apiserver create: {floor:.2f} ms; with {cores} cores busy at most "
        f"{cores * 1000 / floor:.0f}/s = {cores * 1000 / floor / put_rate:.2f}x the raw put rate"
    )


def _split(cpu: dict[str, float]) -> str:
    return (
        " + ".join(f"{name} {ms:.2f}" for name, ms in cpu.items()) + f" = {sum(cpu.values()):.2f}"
    )


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    main()
