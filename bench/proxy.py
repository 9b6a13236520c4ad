"""kube-proxy at scale: render + apply N services x M endpoints, then one endpoint change.

    sudo .venv/bin/python -m bench.proxy [--services 5000] [--endpoints 5] [--changes 5]

Needs root and iptables. Starts its own etcd and apiserver, writes the Services and EndpointSlices
(fake endpoint IPs inside the pod subnet; no traffic is sent), starts a real minik8s-proxy and
prints: the pure render time; the first full sync (the proxy's own sync duration and its
breakdown, and from process start to /readyz, informer lists included); then, for each changed
endpoint, the time from the EndpointSlice write to its new rule being present in the kernel. Stops
the proxy with SIGTERM (which removes every rule) and reports how long that cleanup took.

It changes the host's iptables: run it in a network namespace of its own to leave the host's
rules alone (everything it starts listens on that namespace's 127.0.0.1):

    ip netns add mkbench && ip netns exec mkbench ip link set lo up
    ip netns exec mkbench .venv/bin/python -m bench.proxy
    ip netns del mkbench
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.api import resources
from minik8s.client.api import ApiClient
from minik8s.client.kubeconfig import load_kubeconfig
from minik8s.proxy import rules
from tests.support.api import service_with_endpoint_slice
from tests.support.processes import Apiserver, Etcd, Process, free_port, temp_dir
from tests.support.slices import endpoint
from tests.support.waiting import wait_for

NAMESPACE = "default"


def endpoint_ip(service: int, index: int) -> str:
    n = service * 8 + index  # inside 10.244.0.0/16 … 10.245/16: fake, never contacted
    return f"10.{244 + n // 65536}.{(n // 256) % 256}.{n % 256}"


def objects(services: int, per: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    svcs, eps = [], []
    for i in range(services):
        svc, ep = service_with_endpoint_slice(f"bench-{i}", [endpoint_ip(i, j) for j in range(per)])
        svcs.append(svc)
        eps.append(ep)
    return svcs, eps


async def create_all(client: ApiClient, svcs: list[dict], eps: list[dict]) -> None:
    semaphore = asyncio.Semaphore(50)

    async def create(rt: resources.ResourceType, obj: dict) -> None:
        async with semaphore:
            await client.create(rt, obj, NAMESPACE)

    await asyncio.gather(*(create(resources.SERVICES, s) for s in svcs))
    await asyncio.gather(*(create(resources.ENDPOINTSLICES, e) for e in eps))


async def cached(client: ApiClient, services: int, slices: int, timeout: float = 120) -> float:
    """Wait until the apiserver's watch cache holds every object created (the proxy's first
    lists, at resourceVersion 0, are served from it: right after a burst of writes it is
    seconds behind etcd, and a proxy started then would sync a part of the Services only);
    returns how long that took."""
    started = time.perf_counter()
    while True:
        found = [len((await client.list(rt, NAMESPACE, resource_version="0"))["items"])
                 for rt in (resources.SERVICES, resources.ENDPOINTSLICES)]  # fmt: skip
        if found[0] >= services and found[1] >= slices:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"the watch cache holds {found} of {services} Services, "
                               f"{slices} slices after {timeout}s")  # fmt: skip
        await asyncio.sleep(0.1)


def ready(port: int, process: Process) -> bool:
    if not process.alive():
        raise RuntimeError(f"proxy exited:\n{process.log_tail()}")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def metric(port: int, name: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else float("nan")


def chain_exists(chain: str) -> bool:
    return (
        subprocess.run(
            ["iptables", "-w", "5", "-t", "nat", "-S", chain], capture_output=True, check=False
        ).returncode
        == 0
    )


def force_cleanup(work: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "minik8s.proxy.server",
        "--cleanup",
        f"--state-file={work / 'proxy-state.json'}",
        f"--lock-file={work / 'proxy.lock'}",
    ]
    subprocess.run(command, check=False)


async def change_endpoints(client: ApiClient, service: int, per: int, new_ip: str) -> None:
    current = await client.get(resources.ENDPOINTSLICES, f"bench-{service}", NAMESPACE)
    ips = [endpoint_ip(service, j) for j in range(1, per)] + [new_ip]
    current["endpoints"] = [endpoint(ip) for ip in ips]
    await client.update(resources.ENDPOINTSLICES, current)


async def bench(args: argparse.Namespace) -> None:
    svcs, eps = objects(args.services, args.endpoints)
    fake_svcs = [dict(s, metadata={"namespace": NAMESPACE, "name": s["metadata"]["name"]},
                      spec=dict(s["spec"], clusterIP=f"10.96.{i // 250}.{i % 250 + 1}"))
                 for i, s in enumerate(svcs)]  # fmt: skip
    fake_eps = [dict(e, metadata={**e["metadata"], "namespace": NAMESPACE}) for e in eps]
    started = time.perf_counter()
    ruleset = rules.build_rules(fake_svcs, fake_eps, "bench", rules.RuleOptions("10.244.0.0/16"))
    text = rules.render(ruleset)
    render = time.perf_counter() - started
    chains = sum(len(c) for c in ruleset.tables.values())
    print(f"render {args.services} services x {args.endpoints} endpoints: {render:.3f}s "
          f"({chains} chains, {ruleset.rule_count()} rules, {len(text) / 1e6:.1f} MB)")  # fmt: skip

    work = temp_dir("minik8s-bench-proxy-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    apiserver = Apiserver(etcd.url, work / "apiserver", token=secrets.token_hex(16))
    proxy: Process | None = None
    try:
        apiserver.start()
        kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
        async with ApiClient(load_kubeconfig(kubeconfig)) as client:
            started = time.perf_counter()
            await create_all(client, svcs, eps)
            print(f"created {2 * args.services} objects in {time.perf_counter() - started:.1f}s; "
                  f"the watch cache held them {await cached(client, len(svcs), len(eps)):.1f}s "
                  "later")  # fmt: skip
            port = free_port()
            proxy = Process("proxy", [
                sys.executable, "-m", "minik8s.proxy.server", f"--kubeconfig={kubeconfig}",
                "--node-name=bench", f"--healthz-port={port}",
                f"--state-file={work / 'proxy-state.json'}", f"--lock-file={work / 'proxy.lock'}"],
                work / "proxy.log")  # fmt: skip
            started = time.perf_counter()
            proxy.start()
            running = proxy
            wait_for(lambda: ready(port, running), "the first sync", timeout=600, interval=0.1)
            to_ready = time.perf_counter() - started
            first = metric(port, "kubeproxy_sync_proxy_rules_duration_seconds_sum")
            print(f"first full sync: {first:.2f}s in the proxy (render + plan + apply); "
                  f"{to_ready:.2f}s from process start to /readyz (lists included)")  # fmt: skip
            for line in (work / "proxy.log").read_text().splitlines():
                if "full sync:" in line:  # the proxy's own breakdown of it
                    print("  " + line.split("full sync: ", 1)[1])
                    break

            latencies = []
            for k in range(args.changes):
                await asyncio.sleep(1.2)  # past the min sync period: measure a sync, not a wait
                service = (k * 997) % args.services
                new_ip = f"10.244.255.{k + 1}"
                sp = rules.ServicePort(NAMESPACE, f"bench-{service}", "http", "tcp", "", 80,
                                       None, None, ())  # fmt: skip
                chain = sp.sep_chain(rules._endpoint(new_ip, 8080, None))
                started = time.perf_counter()
                await change_endpoints(client, service, args.endpoints, new_ip)
                wait_for(functools.partial(chain_exists, chain), f"chain {chain}", timeout=60,
                         interval=0.005)  # fmt: skip
                latencies.append(time.perf_counter() - started)
            print(f"one endpoint changed, EndpointSlice write -> rule present: median "
                  f"{statistics.median(latencies):.3f}s, max {max(latencies):.3f}s "
                  f"over {len(latencies)} changes")  # fmt: skip
            count = metric(port, "kubeproxy_network_programming_duration_seconds_count")
            total = metric(port, "kubeproxy_network_programming_duration_seconds_sum")
            print(f"network programming latency (proxy metric, all syncs): "
                  f"mean {total / max(count, 1):.3f}s over {count:.0f} changes")  # fmt: skip
        started = time.perf_counter()
        code = proxy.stop(timeout=120)
        print(f"SIGTERM -> all rules removed, exit {code}: {time.perf_counter() - started:.1f}s")
        proxy = None
    finally:
        if proxy is not None:
            proxy.stop()
            force_cleanup(work)
        apiserver.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("iptables-restore"):
        sys.exit("bench.proxy needs root and iptables")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
