"""The kubelet's resource usage figures: `/metrics/resource` and the Summary API.

    GET /metrics/resource   Prometheus text: node_/pod_/container_ cpu_usage_seconds_total
                            (cumulative core-seconds) and memory_working_set_bytes, with the
                            sample's timestamp, as the kubelet serves them (metrics-server
                            scrapes this)
    GET /stats/summary      the Summary API (`stats/v1alpha1` Summary): node and pods with
                            cpu.usageNanoCores / usageCoreNanoSeconds and memory figures

Containers come from the runtime's stats (Docker's, one-shot; the fake runtime makes up
steady plausible figures). The node is the machine for a Docker node (`/proc/stat`,
`/proc/meminfo`: several nodes of one machine report the same machine, as kind's nodes do
without lxcfs) and the sum of its pods plus a small base for a hollow node. A sample is kept
for a second, so scrapers arriving together cost one round of `docker stats`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from minik8s.api import times
from minik8s.api.meta import Object
from minik8s.kubelet.runtime import (
    LABEL_NODE,
    Container,
    ContainerStats,
    Runtime,
    RuntimeError_,
    State,
)

logger = logging.getLogger(__name__)

SAMPLE_TTL = 1.0
HOLLOW_NODE_MILLICORES = 25
HOLLOW_NODE_BYTES = 180 * 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ContainerSample:
    namespace: str
    pod: str
    pod_uid: str
    name: str
    started_at: float
    stats: ContainerStats
    usage_nano_cores: int | None


@dataclass(frozen=True)
class NodeStats:
    timestamp: float
    cpu_usage_ns: int
    memory_working_set: int
    memory_usage: int
    memory_available: int | None
    usage_nano_cores: int | None


@dataclass
class Sample:
    node: NodeStats
    containers: list[ContainerSample] = field(default_factory=list)
    error: bool = False


def host_stats(now: float) -> tuple[int, int, int, int | None]:
    """(cpu ns, working set, usage, available) of this machine from /proc."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # not idle/iowait
    meminfo: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            meminfo[name] = int(rest.split()[0]) * 1024
    total = meminfo.get("MemTotal", 0)
    available = meminfo.get("MemAvailable", 0)
    used = total - meminfo.get("MemFree", 0)
    return busy * 1_000_000_000 // CLOCK_TICKS, total - available, used, available


class StatsProvider:
    def __init__(self, runtime: Runtime, node: str, hollow: bool) -> None:
        self.runtime = runtime
        self.node = node
        self.hollow = hollow
        self.started = time.time()
        self._sample: Sample | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()
        self._previous: dict[str, ContainerStats] = {}
        self._node_previous: NodeStats | None = None
        self._hollow_cpu = 0
        """Hollow nodes: cumulative CPU of the pods that ran here, so it never goes down."""

    async def sample(self) -> Sample:
        async with self._lock:
            if self._sample is not None and time.monotonic() - self._taken < SAMPLE_TTL:
                return self._sample
            self._sample = await self._take()
            self._taken = time.monotonic()
            return self._sample

    async def _take(self) -> Sample:
        containers = [
            c
            for c in await self.runtime.list_containers({LABEL_NODE: self.node})
            if c.state is State.RUNNING and not c.is_sandbox
        ]
        results = await asyncio.gather(
            *(self.runtime.stats(c.id) for c in containers), return_exceptions=True
        )
        sample_containers: list[ContainerSample] = []
        error = False
        live: dict[str, ContainerStats] = {}
        for container, result in zip(containers, results, strict=True):
            if isinstance(result, RuntimeError_ | OSError):
                logger.warning("stats of %s: %s", container.pod_key, result)
                error = True
                continue
            if isinstance(result, BaseException):
                raise result
            if result is None:
                continue
            live[container.id] = result
            sample_containers.append(self._container_sample(container, result))
        node = self._node_sample(live)
        self._previous = live
        return Sample(node, sample_containers, error)

    def _container_sample(self, c: Container, stats: ContainerStats) -> ContainerSample:
        previous = self._previous.get(c.id)
        return ContainerSample(
            namespace=c.labels.get("minik8s.namespace", ""),
            pod=c.labels.get("minik8s.pod", ""),
            pod_uid=c.pod_uid,
            name=c.container_name,
            started_at=c.started_at or stats.timestamp,
            stats=stats,
            usage_nano_cores=_rate(previous, stats),
        )

    def _node_sample(self, live: dict[str, ContainerStats]) -> NodeStats:
        now = time.time()
        if self.hollow:
            for cid, stats in live.items():
                before = self._previous.get(cid)
                self._hollow_cpu += stats.cpu_usage_ns - (before.cpu_usage_ns if before else 0)
            base = int((now - self.started) * HOLLOW_NODE_MILLICORES * 1_000_000)
            working = HOLLOW_NODE_BYTES + sum(s.memory_working_set for s in live.values())
            cpu, usage, available = base + self._hollow_cpu, working, None
        else:
            cpu, working, usage, available = host_stats(now)
        previous = self._node_previous
        rate = None
        if previous is not None and now > previous.timestamp:
            rate = max(0, int((cpu - previous.cpu_usage_ns) / (now - previous.timestamp)))
        node = NodeStats(now, cpu, working, usage, available, rate)
        self._node_previous = node
        return node


def _rate(previous: ContainerStats | None, current: ContainerStats) -> int | None:
    if previous is None or current.timestamp <= previous.timestamp:
        return None
    used = current.cpu_usage_ns - previous.cpu_usage_ns
    return max(0, int(used / (current.timestamp - previous.timestamp)))


# --- /metrics/resource ---------------------------------------------------------------------

_HELP = (
    ("container_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the container in core-seconds"),
    ("container_memory_working_set_bytes", "gauge",
     "[STABLE] Current working set of the container in bytes"),
    ("container_start_time_seconds", "gauge",
     "[STABLE] Start time of the container since unix epoch in seconds"),
    ("node_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the node in core-seconds"),
    ("node_memory_working_set_bytes", "gauge",
     "[STABLE] Current working set of the node in bytes"),
    ("pod_cpu_usage_seconds_total", "counter",
     "[STABLE] Cumulative cpu time consumed by the pod in core-seconds"),
    ("pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes"),
    ("resource_scrape_error", "gauge",
     "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise"),
)  # fmt: skip


def _labels(**values: str) -> str:
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in values.items()
    )
    return "{" + ",".join(escaped) + "}"


def resource_metrics(sample: Sample) -> str:
    """The `/metrics/resource` exposition of a sample."""
    lines: dict[str, list[str]] = {name: [] for name, _, _ in _HELP}
    pods: dict[tuple[str, str], list[ContainerSample]] = {}
    for c in sample.containers:
        ms = int(c.stats.timestamp * 1000)
        labels = _labels(container=c.name, namespace=c.namespace, pod=c.pod)
        lines["container_cpu_usage_seconds_total"].append(
            f"container_cpu_usage_seconds_total{labels} {c.stats.cpu_usage_ns / 1e9:.9f} {ms}"
        )
        lines["container_memory_working_set_bytes"].append(
            f"container_memory_working_set_bytes{labels} {c.stats.memory_working_set} {ms}"
        )
        lines["container_start_time_seconds"].append(
            f"container_start_time_seconds{labels} {c.started_at:.9f} {ms}"
        )
        pods.setdefault((c.namespace, c.pod), []).append(c)
    for (namespace, pod), containers in sorted(pods.items()):
        ms = int(max(c.stats.timestamp for c in containers) * 1000)
        labels = _labels(namespace=namespace, pod=pod)
        cpu = sum(c.stats.cpu_usage_ns for c in containers) / 1e9
        memory = sum(c.stats.memory_working_set for c in containers)
        lines["pod_cpu_usage_seconds_total"].append(
            f"pod_cpu_usage_seconds_total{labels} {cpu:.9f} {ms}"
        )
        lines["pod_memory_working_set_bytes"].append(
            f"pod_memory_working_set_bytes{labels} {memory} {ms}"
        )
    node, ms = sample.node, int(sample.node.timestamp * 1000)
    lines["node_cpu_usage_seconds_total"].append(
        f"node_cpu_usage_seconds_total {node.cpu_usage_ns / 1e9:.9f} {ms}"
    )
    lines["node_memory_working_set_bytes"].append(
        f"node_memory_working_set_bytes {node.memory_working_set} {ms}"
    )
    lines["resource_scrape_error"].append(f"resource_scrape_error {int(sample.error)}")
    out = []
    for name, kind, text in _HELP:
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *sorted(lines[name])]
    return "\n".join(out) + "\n"


# --- /stats/summary ------------------------------------------------------------------------


def _cpu(stamp: float, cumulative: int, rate: int | None) -> Object:
    cpu: Object = {"time": _time(stamp)}
    if rate is not None:
        cpu["usageNanoCores"] = rate
    cpu["usageCoreNanoSeconds"] = cumulative
    return cpu


def _time(stamp: float) -> str:
    return times.format_timestamp(stamp)


def summary(sample: Sample, node_name: str, node_started: float) -> Object:
    """The Summary API document (`/stats/summary`)."""
    node = sample.node
    node_memory: Object = {
        "time": _time(node.timestamp),
        "usageBytes": node.memory_usage,
        "workingSetBytes": node.memory_working_set,
    }
    if node.memory_available is not None:
        node_memory["availableBytes"] = node.memory_available
    pods: dict[str, Object] = {}
    for c in sample.containers:
        pod = pods.setdefault(
            c.pod_uid,
            {
                "podRef": {"name": c.pod, "namespace": c.namespace, "uid": c.pod_uid},
                "startTime": _time(c.started_at),
                "containers": [],
            },
        )
        pod["containers"].append(
            {
                "name": c.name,
                "startTime": _time(c.started_at),
                "cpu": _cpu(c.stats.timestamp, c.stats.cpu_usage_ns, c.usage_nano_cores),
                "memory": {
                    "time": _time(c.stats.timestamp),
                    "usageBytes": c.stats.memory_usage,
                    "workingSetBytes": c.stats.memory_working_set,
                    "rssBytes": c.stats.memory_rss,
                },
            }
        )
    for pod in pods.values():
        containers = pod["containers"]
        stamp = max(times.parse_timestamp(c["cpu"]["time"]) or 0.0 for c in containers)
        rates = [c["cpu"].get("usageNanoCores") for c in containers]
        pod["cpu"] = _cpu(
            stamp,
            sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers),
            None if None in rates else sum(r for r in rates if r is not None),
        )
        pod["memory"] = {
            "time": _time(stamp),
            "usageBytes": sum(c["memory"]["usageBytes"] for c in containers),
            "workingSetBytes": sum(c["memory"]["workingSetBytes"] for c in containers),
        }
    return {
        "node": {
            "nodeName": node_name,
            "startTime": _time(node_started),
            "cpu": _cpu(node.timestamp, node.cpu_usage_ns, node.usage_nano_cores),
            "memory": node_memory,
        },
        "pods": list(pods.values()),
    }


def routes(provider: StatsProvider, node_name: str) -> list[Route]:
    """The kubelet's stats endpoints, for its HTTP server."""

    async def metrics_resource(request: Request) -> Response:
        sample = await provider.sample()
        return PlainTextResponse(
            resource_metrics(sample), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def stats_summary(request: Request) -> Response:
        sample = await provider.sample()
        return JSONResponse(summary(sample, node_name, provider.started))

    return [Route("/metrics/resource", metrics_resource), Route("/stats/summary", stats_summary)]
