"""Score plugins: how good is this feasible node for this pod? Pure, 0-100 like Kubernetes.

LeastAllocated and BalancedAllocation score cpu/memory after placing the pod (counting
containers without requests as 100m / 200Mi, as Kubernetes does). The other plugins give a
raw number per node that is normalised over the feasible nodes: pods of the same owner
(fewer is better), untolerated PreferNoSchedule taints (fewer is better), matched preferred
node-affinity weight (more is better). `score_nodes` weighs and sums them; `select_host`
takes a best node, ties broken at random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from minik8s.scheduler.filtering import term_matches
from minik8s.scheduler.nodeinfo import PREFER_NO_SCHEDULE, NodeInfo, PodInfo

MAX_SCORE = 100


@dataclass(frozen=True)
class ScoreWeights:
    """Kubernetes' default plugin weights."""

    least_allocated: int = 1
    balanced_allocation: int = 1
    spread: int = 2
    taint_toleration: int = 3
    node_affinity: int = 2


DEFAULT_WEIGHTS = ScoreWeights()


def _least(requested: int, allocatable: int) -> int:
    if allocatable <= 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * MAX_SCORE // allocatable


def least_allocated(pod: PodInfo, node: NodeInfo) -> int:
    """Free share of cpu and memory after placing the pod, averaged: emptier nodes win."""
    cpu = _least(node.nonzero_cpu + pod.nonzero_cpu, node.allocatable_cpu)
    memory = _least(node.nonzero_memory + pod.nonzero_memory, node.allocatable_memory)
    return (cpu + memory) // 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> int:
    """How equal the cpu and memory fractions are after placing the pod (100: equal)."""
    if node.allocatable_cpu <= 0 or node.allocatable_memory <= 0:
        return 0
    cpu = min(1.0, (node.nonzero_cpu + pod.nonzero_cpu) / node.allocatable_cpu)
    memory = min(1.0, (node.nonzero_memory + pod.nonzero_memory) / node.allocatable_memory)
    return int((1.0 - abs(cpu - memory) / 2.0) * MAX_SCORE)


def resource_score(pod: PodInfo, node: NodeInfo, w_least: int, w_balanced: int) -> int:
    """The weighted LeastAllocated + BalancedAllocation score, cached on the node (it depends
    only on the node's totals, which clear the cache when they change, and the request)."""
    key = (pod.nonzero_cpu, pod.nonzero_memory, w_least, w_balanced)
    cached = node.score_cache.get(key)
    if cached is None:
        cached = w_least * least_allocated(pod, node) + w_balanced * balanced_allocation(pod, node)
        node.score_cache[key] = cached
    return cached


def same_owner_count(pod: PodInfo, node: NodeInfo) -> int:
    """Raw spreading score: pods on the node with the pod's controller owner."""
    return node.owners.get(pod.owner_uid, 0) if pod.owner_uid else 0


def untolerated_soft_taints(pod: PodInfo, node: NodeInfo) -> int:
    """Raw TaintToleration score: PreferNoSchedule taints the pod does not tolerate."""
    tolerations = [t for t in pod.tolerations if t.effect in ("", PREFER_NO_SCHEDULE)]
    return sum(1 for taint in node.soft_taints if not any(t.tolerates(taint) for t in tolerations))


def preferred_affinity(pod: PodInfo, node: NodeInfo) -> int:
    """Raw NodeAffinity score: the summed weights of the preferred terms the node matches."""
    return sum(p.weight for p in pod.preferred_terms if term_matches(p.term, node))


def normalize(raw: Sequence[int], reverse: bool = False) -> list[int]:
    """Kubernetes' DefaultNormalizeScore: scale to 0-100 by the maximum; reverse: fewer wins."""
    top = max(raw, default=0)
    if top == 0:
        return [MAX_SCORE if reverse else 0 for _ in raw]
    if reverse:
        return [MAX_SCORE - value * MAX_SCORE // top for value in raw]
    return [value * MAX_SCORE // top for value in raw]


def score_nodes(
    pod: PodInfo, nodes: Sequence[NodeInfo], weights: ScoreWeights = DEFAULT_WEIGHTS
) -> list[int]:
    """The weighted total score of each node. Plugins that would give every node the same
    score (the pod has no owner, no preferred affinity; no node has a soft taint) are skipped,
    as they cannot change the choice."""
    w_least, w_balanced = weights.least_allocated, weights.balanced_allocation
    key = (pod.nonzero_cpu, pod.nonzero_memory, w_least, w_balanced)
    totals = [node.score_cache.get(key, -1) for node in nodes]  # resource_score, inlined
    for i, total in enumerate(totals):
        if total < 0:
            totals[i] = resource_score(pod, nodes[i], w_least, w_balanced)
    if pod.owner_uid and weights.spread:
        spread = normalize([same_owner_count(pod, n) for n in nodes], reverse=True)
        totals = [t + weights.spread * s for t, s in zip(totals, spread, strict=True)]
    if weights.taint_toleration and any(n.soft_taints for n in nodes):
        taints = normalize([untolerated_soft_taints(pod, n) for n in nodes], reverse=True)
        totals = [t + weights.taint_toleration * s for t, s in zip(totals, taints, strict=True)]
    if pod.preferred_terms and weights.node_affinity:
        affinity = normalize([preferred_affinity(pod, n) for n in nodes])
        totals = [t + weights.node_affinity * s for t, s in zip(totals, affinity, strict=True)]
    return totals


def select_host(nodes: Sequence[NodeInfo], scores: Sequence[int], rng: random.Random) -> NodeInfo:
    """A node with the highest score; among equals each is equally likely."""
    if not nodes:
        raise ValueError("no nodes to select from")
    best = max(scores)
    tied = [node for node, score in zip(nodes, scores, strict=True) if score == best]
    return tied[0] if len(tied) == 1 else rng.choice(tied)
