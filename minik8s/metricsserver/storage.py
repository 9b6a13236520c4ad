"""What the metrics server knows (pure): the kubelets' last two samples, and the usage rates
`metrics.k8s.io` serves from them, as metrics-server computes them.

A scrape of `/metrics/resource` gives cumulative CPU seconds and the current working set, each
with its sample time. CPU usage is the increase over the window between two samples of the
same container (a restart starts it afresh); memory is the newest working set. A pod is served
only when every container of it has a rate, a node when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from minik8s.api import times


@dataclass(frozen=True)
class Point:
    timestamp: float
    cpu_seconds: float
    """Cumulative CPU time, in core-seconds."""
    memory: int
    """Working set, in bytes."""
    started: float = 0.0
    """The container's start time (a change means it restarted)."""


@dataclass
class Scrape:
    """One kubelet's `/metrics/resource`, parsed."""

    node: Point | None = None
    containers: dict[tuple[str, str, str], Point] = field(default_factory=dict)
    """(namespace, pod, container) -> its sample."""


def parse(text: str) -> Scrape:
    """The samples of a `/metrics/resource` exposition (those without timestamps dropped)."""
    node_cpu: tuple[float, float] | None = None
    node_memory: tuple[float, float] | None = None
    cpu: dict[tuple[str, str, str], tuple[float, float]] = {}
    memory: dict[tuple[str, str, str], float] = {}
    started: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.timestamp is None and sample.name != "container_start_time_seconds":
                continue
            stamp = float(sample.timestamp or 0)
            labels = sample.labels
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            if sample.name == "node_cpu_usage_seconds_total":
                node_cpu = (stamp, sample.value)
            elif sample.name == "node_memory_working_set_bytes":
                node_memory = (stamp, sample.value)
            elif sample.name == "container_cpu_usage_seconds_total":
                cpu[key] = (stamp, sample.value)
            elif sample.name == "container_memory_working_set_bytes":
                memory[key] = sample.value
            elif sample.name == "container_start_time_seconds":
                started[key] = sample.value
    scrape = Scrape()
    if node_cpu is not None and node_memory is not None:
        scrape.node = Point(node_cpu[0], node_cpu[1], int(node_memory[1]))
    for key, (stamp, seconds) in cpu.items():
        if key in memory:
            scrape.containers[key] = Point(stamp, seconds, int(memory[key]), started.get(key, 0.0))
    return scrape


@dataclass(frozen=True)
class Usage:
    timestamp: float
    window: float
    cpu_nanocores: int
    memory: int

    def as_resources(self) -> dict[str, str]:
        """As metrics-server writes them: cpu in nanocores, memory in binary units."""
        return {"cpu": f"{self.cpu_nanocores}n", "memory": binary_bytes(self.memory)}


def binary_bytes(count: int) -> str:
    """A byte count in the largest binary unit that divides it (BinarySI's canonical form)."""
    for suffix, size in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def _rate(older: Point, newer: Point) -> Usage | None:
    window = newer.timestamp - older.timestamp
    if window <= 0 or newer.cpu_seconds < older.cpu_seconds:
        return None
    if older.started and newer.started and older.started != newer.started:
        return None
    cores = (newer.cpu_seconds - older.cpu_seconds) / window
    return Usage(newer.timestamp, window, int(cores * 1e9), newer.memory)


@dataclass
class Series:
    """The last two distinct samples of one node or container."""

    previous: Point | None = None
    latest: Point | None = None

    def add(self, point: Point) -> None:
        """Keep `point` if it is newer (a kubelet may serve the same sample twice: Docker
        collects stats once a second and one-shot stats answer the last collected one)."""
        if self.latest is not None and point.timestamp <= self.latest.timestamp:
            return
        self.previous, self.latest = self.latest, point

    def usage(self) -> Usage | None:
        if self.previous is None or self.latest is None:
            return None
        return _rate(self.previous, self.latest)


@dataclass
class Storage:
    """The last two samples of every node and container."""

    nodes: dict[str, Series] = field(default_factory=dict)
    containers: dict[str, dict[tuple[str, str, str], Series]] = field(default_factory=dict)
    """Node -> (namespace, pod, container) -> samples."""

    @property
    def previous(self) -> bool:
        """True once some node has two samples (a rate can be served)."""
        return any(series.previous is not None for series in self.nodes.values())

    def store(self, node: str, scrape: Scrape) -> None:
        if scrape.node is not None:
            self.nodes.setdefault(node, Series()).add(scrape.node)
        known = self.containers.setdefault(node, {})
        for key in [k for k in known if k not in scrape.containers]:
            del known[key]  # the container is gone
        for key, point in scrape.containers.items():
            known.setdefault(key, Series()).add(point)

    def forget(self, nodes: set[str]) -> None:
        """Drop nodes that are gone."""
        for name in [n for n in self.nodes if n not in nodes]:
            self.nodes.pop(name, None)
        for name in [n for n in self.containers if n not in nodes]:
            self.containers.pop(name, None)

    def node_usage(self, node: str) -> Usage | None:
        series = self.nodes.get(node)
        return series.usage() if series is not None else None

    def pod_usage(self) -> dict[tuple[str, str], dict[str, Usage]]:
        """(namespace, pod) -> container -> usage, for pods whose every container has one."""
        out: dict[tuple[str, str], dict[str, Usage]] = {}
        incomplete: set[tuple[str, str]] = set()
        for known in self.containers.values():
            for (namespace, pod, container), series in known.items():
                usage = series.usage()
                if usage is None:
                    incomplete.add((namespace, pod))
                    continue
                out.setdefault((namespace, pod), {})[container] = usage
        return {key: value for key, value in out.items() if key not in incomplete}


def window_text(seconds: float) -> str:
    """`15.012s`: a metav1.Duration as metrics-server writes the window."""
    return times.format_duration(seconds)
