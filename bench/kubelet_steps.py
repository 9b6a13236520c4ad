"""Where the hollow kubelets' pods waited before their first status write, from the kubelets.

Each kubemark process serves its kubelets' Prometheus metrics (one registry per process, so
any of its nodes' `/metrics` sums all of them); the bench reads them once per process, from the
kubelet's port or through the apiserver's node proxy (`nodes/{name}/proxy/metrics`), and prints
the quantiles of `kubelet_pod_first_sync_step_duration_seconds` by step: watch (the
PodScheduled time, whole seconds, to the kubelet's first sight), queue (to a pod worker),
sandbox, objects (ConfigMaps and Secrets the pod references), volumes (the projected
ServiceAccount token among them), containers and status_write (the first `pods/status`
write, which carries `startTime`); and `kubemark_event_loop_lag_seconds`, how late the
process's shared event loop woke a task sleeping 0.1 s (sampled 10 times a second); and the
clients' side of the API requests (`rest_client_request_duration_seconds` by verb, the hollow
proxies' GETs among them, and `rest_client_connection_wait_seconds`: a free connection of the
pool, a new connection with its TLS handshake), to set against the apiserver's own latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import httpx

from bench.stats import histogram_quantile, samples
from minik8s.api.resources import NODES
from minik8s.client.api import ApiClient

METRIC = "kubelet_pod_first_sync_step_duration_seconds"
STEPS = (
    "watch",
    "queue",
    "sandbox",
    "objects",
    "volumes",
    "containers",
    "status_write",
    "loop_lag",
)

Buckets = dict[float, float]


LOOP_LAG = "kubemark_event_loop_lag_seconds"
CLIENT = "rest_client_request_duration_seconds"
CONNECTION = "rest_client_connection_wait_seconds"


def _key(metric: str, labels: dict[str, str]) -> str:
    if metric == CLIENT:
        return f"client {labels['verb']}"
    if metric == CONNECTION:
        return f"connection {labels['stage']}"
    return labels.get("step", "loop_lag")


def parse(text: str) -> dict[str, Buckets]:
    """Cumulative buckets by step, the kubemark loop's lag as "loop_lag", the clients'
    request latency as "client <verb>" (summed over hosts) and connection waits as
    "connection pool" / "connection connect"."""
    result: dict[str, Buckets] = {}
    for metric in (METRIC, LOOP_LAG, CLIENT, CONNECTION):
        for labels, value in samples(text, metric + "_bucket"):
            le = labels["le"]
            bound = math.inf if le == "+Inf" else float(le)
            buckets = result.setdefault(_key(metric, labels), {})
            buckets[bound] = buckets.get(bound, 0.0) + value
    return result


def add(into: dict[str, Buckets], more: dict[str, Buckets]) -> None:
    for step, buckets in more.items():
        mine = into.setdefault(step, {})
        for bound, count in buckets.items():
            mine[bound] = mine.get(bound, 0.0) + count


async def read(client: ApiClient, nodes: Iterable[str]) -> dict[str, Buckets]:
    """The step histograms summed over the kubemark processes of `nodes` (one node each)."""
    total: dict[str, Buckets] = {}
    for node in nodes:
        add(total, parse(await metrics_text(client, node)))
    return total


async def metrics_text(client: ApiClient, node: str) -> str:
    """A hollow kubelet's /metrics: straight from its port when it serves plain HTTP (the
    hollow kubelets of the launcher's cluster do: no serving certificate, no authn), else
    through the apiserver's node proxy."""
    obj = await client.get(NODES, node)
    status = obj.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    address = next(
        (a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
        None,
    )
    if port and address:
        try:
            async with httpx.AsyncClient(timeout=10.0) as direct:
                answer = await direct.get(f"http://{address}:{port}/metrics")
            if answer.status_code == 200:
                return answer.text
        except httpx.HTTPError:
            pass  # TLS, or not reachable: ask the apiserver
    return str(await client.request("GET", NODES.object_path(None, node) + "/proxy/metrics"))


def report(phase: str, steps: dict[str, Buckets]) -> list[str]:
    lines = []
    others = sorted(k for k in steps if k not in STEPS)
    for step in (*STEPS, *others):
        buckets = steps.get(step)
        if not buckets:
            continue
        n = int(buckets.get(math.inf, 0.0))
        p50, p90, p99 = (histogram_quantile(buckets, q) for q in (0.5, 0.9, 0.99))
        if step == "loop_lag":
            what = "kubemark event loop lag   "
        elif step in STEPS:
            what = f"kubelet first sync {step:<7}"
        else:
            what = f"kubemark {step:<17}"
        lines.append(f"{phase}: {what} p50 {p50:.2f}s p90 {p90:.2f}s p99 {p99:.2f}s (n={n})")
    return lines
