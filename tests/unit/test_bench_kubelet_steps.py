"""The density bench's reading of the hollow kubelets' first-sync step histograms."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench import kubelet_steps


def _exposition() -> str:
    registry = CollectorRegistry()
    steps = Histogram(
        kubelet_steps.METRIC, "steps", ["step"], buckets=(0.1, 1, 5), registry=registry
    )
    lag = Histogram(kubelet_steps.LOOP_LAG, "lag", buckets=(0.1, 1), registry=registry)
    for value in (0.05, 0.05, 3.0):
        steps.labels("watch").observe(value)
    steps.labels("queue").observe(0.01)
    lag.observe(0.5)
    return generate_latest(registry).decode()


def test_parse_reads_each_step_and_the_loop_lag_as_cumulative_buckets() -> None:
    parsed = kubelet_steps.parse(_exposition())
    assert parsed["watch"] == {0.1: 2.0, 1.0: 2.0, 5.0: 3.0, math.inf: 3.0}
    assert parsed["queue"][math.inf] == 1.0
    assert parsed["loop_lag"] == {0.1: 0.0, 1.0: 1.0, math.inf: 1.0}


def test_processes_add_up_and_the_report_names_steps_in_order() -> None:
    total: dict[str, kubelet_steps.Buckets] = {}
    kubelet_steps.add(total, kubelet_steps.parse(_exposition()))
    kubelet_steps.add(total, kubelet_steps.parse(_exposition()))
    assert total["watch"][math.inf] == 6.0
    lines = kubelet_steps.report("create", total)
    assert [line.split()[1:4] for line in lines] == [
        ["kubelet", "first", "sync"],
        ["kubelet", "first", "sync"],
        ["kubemark", "event", "loop"],
    ]
    assert lines[0].startswith("create: kubelet first sync watch ") and "(n=6)" in lines[0]


def test_client_latency_sums_hosts_by_verb_and_connection_waits_by_stage() -> None:
    registry = CollectorRegistry()
    client = Histogram(
        kubelet_steps.CLIENT, "client", ["verb", "host"], buckets=(0.1, 1), registry=registry
    )
    wait = Histogram(kubelet_steps.CONNECTION, "wait", ["stage"], buckets=(0.1,), registry=registry)
    client.labels("POST", "a:1").observe(0.05)
    client.labels("POST", "b:2").observe(0.5)
    wait.labels("connect").observe(0.2)
    parsed = kubelet_steps.parse(generate_latest(registry).decode())
    assert parsed["client POST"] == {0.1: 1.0, 1.0: 2.0, math.inf: 2.0}
    assert parsed["connection connect"] == {0.1: 0.0, math.inf: 1.0}
    lines = kubelet_steps.report("create", parsed)
    assert [line.split()[1:3] for line in lines] == [
        ["kubemark", "client"],
        ["kubemark", "connection"],
    ]
