"""What API Priority and Fairness costs a request, in process, with the apiserver's own
`FlowControl`: `admit` + `done` of an RBAC user's create (global-default, 49 seats of the
default 600), of a node's Lease update and of a get, one at a time; then 49 and 50 requests
at once on those 49 seats (at 50 each request waits its turn in the level's queue).

    .venv/bin/python -m bench.flowcontrol [--requests 100000]

For scale: the apiserver spends ~0.5 ms of CPU per create (README, Figures).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minik8s.apiserver import flowcontrol
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes, parse

USER = UserInfo("bench", groups=("system:authenticated",))
NODE = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))
CREATE = parse(USER, "POST", "/api/v1/namespaces/default/configmaps")
REQUESTS = [
    CREATE,
    parse(USER, "GET", "/api/v1/namespaces/default/configmaps/x"),
    parse(NODE, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"),
]
SEATS = 600
"""`--max-requests-inflight` + `--max-mutating-requests-inflight`, Kubernetes' defaults."""


async def one_at_a_time(n: int) -> float:
    flow = flowcontrol.FlowControl(SEATS)
    started = time.perf_counter()
    for i in range(n):
        flow.done(await flow.admit(REQUESTS[i % len(REQUESTS)]))
    return (time.perf_counter() - started) / n


async def at_once(n: int, clients: int, attrs: Attributes = CREATE) -> float:
    """Per request, less what the same clients cost with no flow control (one loop turn)."""
    flow = flowcontrol.FlowControl(SEATS)

    async def limited() -> None:
        for _ in range(n // clients):
            ticket = await flow.admit(attrs)
            await asyncio.sleep(0)  # the request runs
            flow.done(ticket)

    async def bare() -> None:
        for _ in range(n // clients):
            await asyncio.sleep(0)

    elapsed = []
    for client in (limited, bare):
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed.append(time.perf_counter() - started)
    return (elapsed[0] - elapsed[1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    n = args.requests
    seats = flowcontrol.seats(SEATS)["global-default"]
    print(f"admit + done, one at a time: {asyncio.run(one_at_a_time(n)) * 1e6:.2f} µs")
    for clients in (seats, seats + 1):
        cost = asyncio.run(at_once(n, clients))
        print(f"admit + done, {clients} at once on {seats} seats: {cost * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
