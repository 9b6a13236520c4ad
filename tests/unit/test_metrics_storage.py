"""The metrics server's rates from the kubelets' cumulative samples (pure)."""

from __future__ import annotations

from minik8s.metricsserver import storage

TEXT = """# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{{container="c",namespace="ns",pod="p"}} {cpu} {ms}
container_memory_working_set_bytes{{container="c",namespace="ns",pod="p"}} 1048576 {ms}
container_start_time_seconds{{container="c",namespace="ns",pod="p"}} 100.0 {ms}
node_cpu_usage_seconds_total {node} {ms}
node_memory_working_set_bytes 2097152 {ms}
"""


def scrape(cpu: float, node: float, seconds: float) -> storage.Scrape:
    return storage.parse(TEXT.format(cpu=cpu, node=node, ms=int(seconds * 1000)))


def test_rates_over_the_window_between_two_distinct_samples() -> None:
    store = storage.Storage()
    store.store("n", scrape(1.0, 10.0, 1000.0))
    assert store.node_usage("n") is None and store.pod_usage() == {}
    store.store("n", scrape(1.0, 10.0, 1000.0))  # the same sample again: ignored
    store.store("n", scrape(1.5, 12.0, 1002.0))
    usage = store.pod_usage()[("ns", "p")]["c"]
    assert usage.as_resources() == {"cpu": "250000000n", "memory": "1Mi"}
    assert usage.window == 2.0
    node = store.node_usage("n")
    assert node is not None and node.as_resources() == {"cpu": "1000000000n", "memory": "2Mi"}
    assert storage.window_text(usage.window) == "2s"


def test_a_gone_container_and_a_gone_node_are_forgotten() -> None:
    store = storage.Storage()
    store.store("n", scrape(1.0, 10.0, 1000.0))
    store.store("n", scrape(1.2, 10.5, 1001.0))
    store.store("n", storage.Scrape(node=None, containers={}))
    assert store.pod_usage() == {}
    store.forget(set())
    assert store.node_usage("n") is None
