"""`minikctl top`: kubectl's metrics printer, from metrics.k8s.io objects."""

from __future__ import annotations

from minik8s.cli.minikctl.top import node_lines, pod_lines


def node(name: str, cpu: str, memory: str) -> dict:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": cpu, "memory": memory}}}


def test_nodes_with_percentages_of_allocatable_and_unknown_ones() -> None:
    metrics = [{"metadata": {"name": "a"}, "usage": {"cpu": "250000000n", "memory": "1Gi"}}]
    lines = node_lines(metrics, [node("a", "2", "4Gi"), node("b", "2", "4Gi")])
    assert lines == [
        "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   ",
        "a      250m         12%         1024Mi          25%         ",
        "b      <unknown>    <unknown>   <unknown>       <unknown>   ",
    ]


def test_pods_and_containers_and_sum() -> None:
    metrics = [
        {
            "metadata": {"name": "web", "namespace": "default"},
            "containers": [
                {"name": "b", "usage": {"cpu": "5m", "memory": "20Mi"}},
                {"name": "a", "usage": {"cpu": "10m", "memory": "10Mi"}},
            ],
        }
    ]
    assert pod_lines(metrics) == [
        "NAME   CPU(cores)   MEMORY(bytes)   ",
        "web    15m          30Mi            ",
    ]
    assert pod_lines(metrics, containers=True)[1:] == [
        "web   a      10m          10Mi            ",
        "web   b      5m           20Mi            ",
    ]
    summed = pod_lines(metrics, total=True)
    assert summed[-2].split() == ["________", "________"]
    assert summed[-1].split() == ["15m", "30Mi"]
