"""The DNS's Prometheus metrics, counted in plain integers on the answer path.

prometheus_client's labelled children cost about a microsecond per update; at tens of thousands
of queries a second that is several percent of a core. The server counts into a dict and a list
of buckets instead, and a collector turns them into metric families when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

from minik8s.dns.forward import Forwarder

BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 16: "TXT", 28: "AAAA", 33: "SRV"}
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    16: "BADVERS",
}  # fmt: skip


class DnsMetrics:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int, int], int] = {}
        """(proto, qtype, rcode) → queries answered."""
        self.dropped = 0
        """Packets not answered (not a query, or too short)."""
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.seconds = 0.0

    def observe(self, proto: str, qtype: int, rcode: int, seconds: float) -> None:
        key = (proto, qtype, rcode)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.buckets[bisect_left(BUCKETS, seconds)] += 1
        self.seconds += seconds


class DnsCollector(Collector):
    def __init__(
        self,
        metrics: DnsMetrics,
        forwarder: Forwarder | None,
        zone_names: Callable[[], int],
        services: Callable[[], int],
    ) -> None:
        self.metrics = metrics
        self.forwarder = forwarder
        self.zone_names = zone_names
        self.services = services

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        counts = dict(m.counts)
        requests = CounterMetricFamily(
            "minik8s_dns_requests", "DNS queries answered, by transport and type",
            labels=["proto", "type"],
        )  # fmt: skip
        responses = CounterMetricFamily(
            "minik8s_dns_responses", "DNS answers, by response code", labels=["rcode"]
        )
        by_type: dict[tuple[str, str], int] = {}
        by_rcode: dict[str, int] = {}
        for (proto, qtype, rcode), n in counts.items():
            key = (proto, TYPE_NAMES.get(qtype, "other"))
            by_type[key] = by_type.get(key, 0) + n
            name = RCODE_NAMES.get(rcode, str(rcode))
            by_rcode[name] = by_rcode.get(name, 0) + n
        for (proto, type_name), n in sorted(by_type.items()):
            requests.add_metric([proto, type_name], n)
        for name, n in sorted(by_rcode.items()):
            responses.add_metric([name], n)
        yield requests
        yield responses
        yield CounterMetricFamily(
            "minik8s_dns_dropped", "Packets dropped unanswered (not a query)", value=m.dropped
        )
        cumulative = []
        total = 0
        for bound, n in zip((*BUCKETS, float("inf")), m.buckets, strict=True):
            total += n
            cumulative.append((repr(bound) if bound != float("inf") else "+Inf", total))
        yield HistogramMetricFamily(
            "minik8s_dns_request_duration_seconds",
            "Time from a query's arrival to its answer being sent (answered queries)",
            buckets=cumulative, sum_value=m.seconds,
        )  # fmt: skip
        if self.forwarder is not None:
            stats = self.forwarder.stats
            yield CounterMetricFamily(
                "minik8s_dns_forward_requests", "Queries sent upstream", value=stats.queries
            )
            yield CounterMetricFamily(
                "minik8s_dns_forward_failures", "Upstream queries that failed",
                value=stats.failures,
            )  # fmt: skip
            yield CounterMetricFamily(
                "minik8s_dns_cache_hits", "Forwarded names answered from the cache",
                value=stats.cache_hits,
            )  # fmt: skip
            yield CounterMetricFamily(
                "minik8s_dns_cache_misses", "Forwarded names not in the cache",
                value=stats.cache_misses,
            )  # fmt: skip
            yield GaugeMetricFamily(
                "minik8s_dns_cache_entries", "Answers in the forwarding cache",
                value=self.forwarder.cache_entries,
            )  # fmt: skip
        yield GaugeMetricFamily(
            "minik8s_dns_zone_answers",
            "Answers compiled (one per name and type)",
            value=self.zone_names(),
        )
        yield GaugeMetricFamily(
            "minik8s_dns_services", "Services with records", value=self.services()
        )


def register(collector: DnsCollector) -> Callable[[], None]:
    """Register on the default registry (the one /metrics serves); return the undo."""
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)
