"""Score plugins, the weighted total, host selection and the sampled search."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minik8s.scheduler import algorithm, scoring
from minik8s.scheduler.cache import SchedulerCache
from minik8s.scheduler.nodeinfo import NodeInfo, node_info, pod_info
from tests.support.scheduling import node, pod, preferred_affinity


def loaded(name: str, cpu: str, memory: str, used_cpu: str, used_memory: str) -> NodeInfo:
    info = node_info(node(name, cpu, memory))
    info.add_pod(pod_info(pod(f"{name}-used", used_cpu, used_memory)))
    return info


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (("0", "0"), 87),  # (4000-500)/4000 -> 87; (8Gi-1Gi)/8Gi -> 87
        (("2", "4Gi"), 37),
        (("3500m", "7Gi"), 0),
    ],
)
def test_least_allocated(used: tuple[str, str], expected: int) -> None:
    n = loaded("n", "4", "8Gi", *used)
    p = pod_info(pod("p", "500m", "1Gi"))
    assert scoring.least_allocated(p, n) == expected


def test_least_allocated_counts_missing_requests_as_defaults() -> None:
    n = node_info(node("n", "1", "1000Mi"))
    p = pod_info(pod("p"))  # no requests: 100m and 200Mi for scoring
    assert scoring.least_allocated(p, n) == (90 + 80) // 2


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (("1", "2Gi"), 100),  # 25% cpu, 25% memory
        (("2", "2Gi"), 87),  # 50% vs 25%: 1 - 0.25/2
        (("4", "0"), 50),  # 100% vs ~2.4% (non-zero memory default) -> 51, capped below
    ],
)
def test_balanced_allocation(request_: tuple[str, str], expected: int) -> None:
    n = node_info(node("n", "4", "8Gi"))
    p = pod_info(pod("p", *request_))
    assert abs(scoring.balanced_allocation(p, n) - expected) <= 1


def test_normalize() -> None:
    assert scoring.normalize([0, 1, 2]) == [0, 50, 100]
    assert scoring.normalize([0, 1, 2], reverse=True) == [100, 50, 0]
    assert scoring.normalize([0, 0], reverse=True) == [100, 100]
    assert scoring.normalize([0, 0]) == [0, 0]


def test_pods_of_one_owner_spread_across_nodes() -> None:
    a, b = node_info(node("a")), node_info(node("b"))
    a.add_pod(pod_info(pod("x", owner_uid="rs1")))
    p = pod_info(pod("p", owner_uid="rs1"))
    assert scoring.same_owner_count(p, a) == 1
    assert scoring.same_owner_count(p, b) == 0
    weights = scoring.ScoreWeights(least_allocated=0, balanced_allocation=0)
    assert scoring.score_nodes(p, [a, b], weights) == [0, 200]


def test_prefer_no_schedule_taints_score_lower() -> None:
    soft = [{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]
    tainted, plain = node_info(node("t", taints=soft)), node_info(node("p"))
    weights = scoring.ScoreWeights(least_allocated=0, balanced_allocation=0)
    assert scoring.score_nodes(pod_info(pod("p")), [tainted, plain], weights) == [0, 300]
    tolerating = pod_info(pod("q", tolerations=[{"key": "k", "operator": "Exists"}]))
    assert scoring.score_nodes(tolerating, [tainted, plain], weights) == [300, 300]


def test_preferred_node_affinity_scores_matching_nodes() -> None:
    ssd, hdd = node_info(node("s", labels={"disk": "ssd"})), node_info(node("h"))
    affinity = preferred_affinity(10, {"key": "disk", "operator": "In", "values": ["ssd"]})
    p = pod_info(pod("p", affinity=affinity))
    assert scoring.preferred_affinity(p, ssd) == 10
    assert scoring.preferred_affinity(p, hdd) == 0
    weights = scoring.ScoreWeights(least_allocated=0, balanced_allocation=0)
    assert scoring.score_nodes(p, [ssd, hdd], weights) == [200, 0]


def test_select_host_takes_the_best_and_breaks_ties_at_random() -> None:
    nodes = [node_info(node(n)) for n in "abc"]
    rng = random.Random(7)
    assert scoring.select_host(nodes, [1, 5, 3], rng).name == "b"
    picks = Counter(scoring.select_host(nodes, [5, 5, 1], rng).name for _ in range(400))
    assert set(picks) == {"a", "b"}
    assert min(picks.values()) > 120


def test_score_cache_is_invalidated_when_the_node_changes() -> None:
    n = node_info(node("n", "4", "8Gi"))
    p = pod_info(pod("p", "1", "2Gi"))
    first = scoring.score_nodes(p, [n])
    n.add_pod(pod_info(pod("q", "2", "2Gi")))
    assert scoring.score_nodes(p, [n]) != first


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [(50, 0, 50), (100, 0, 100), (500, 0, 230), (1000, 0, 420), (5000, 0, 500), (6000, 0, 300),
     (20000, 0, 1000), (1000, 100, 1000), (1000, 30, 300), (1000, 1, 100)],
)  # fmt: skip
def test_num_feasible_nodes_to_find(nodes: int, percentage: int, expected: int) -> None:
    assert algorithm.num_feasible_nodes_to_find(nodes, percentage) == expected


def cluster(count: int, **kwargs: str) -> SchedulerCache:
    cache = SchedulerCache()
    for i in range(count):
        cache.set_node(node(f"n{i:03}", **kwargs))
    return cache


def test_schedule_picks_the_only_fitting_node() -> None:
    cache = cluster(3, cpu="1")
    cache.set_node(node("big", cpu="8"))
    decision = algorithm.schedule(pod_info(pod("p", "4")), cache.node_list(), 0, random.Random())
    assert decision.node is not None and decision.node.name == "big"


def test_schedule_explains_why_nothing_fits() -> None:
    cache = cluster(2, cpu="1")
    cache.set_node(node("t", taints=[{"key": "gpu", "value": "", "effect": "NoSchedule"}]))
    decision = algorithm.schedule(pod_info(pod("p", "2")), cache.node_list(), 1, random.Random())
    assert decision.node is None
    assert decision.message == (
        "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {gpu: }."
    )


def test_sampling_rotates_over_the_nodes_and_spreads_pods() -> None:
    cache = cluster(1000)
    rng, start = random.Random(1), 0
    for i in range(2000):
        p = pod_info(pod(f"p{i}", "100m", "100Mi"))
        decision = algorithm.schedule(p, cache.node_list(), start, rng, percentage=10)
        assert decision.node is not None and decision.evaluated == 100  # 10% of 1000 nodes
        start = decision.next_start
        cache.assume(p, decision.node.name)
    per_node = Counter(cache.node_of(f"default/p{i}") for i in range(2000))
    assert len(per_node) == 1000 and max(per_node.values()) == 2


def test_assumed_pods_count_against_their_node() -> None:
    cache = cluster(1, cpu="1")
    first, second = pod_info(pod("a", "600m")), pod_info(pod("b", "600m"))
    cache.assume(first, "n000")
    decision = algorithm.schedule(second, cache.node_list(), 0, random.Random())
    assert decision.node is None and decision.reasons == Counter({"Insufficient cpu": 1})
