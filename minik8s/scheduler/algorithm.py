"""One scheduling decision, pure: filter the nodes (a sample of them on large clusters), score
the feasible ones, pick the best.

Like Kubernetes' `percentageOfNodesToScore`, the search stops once enough feasible nodes are
found: all of them below 100 nodes, else a percentage that shrinks as the cluster grows
(50% - nodes/125, at least 5%, at least 100 nodes; 10% = 500 nodes at 5 000). Each search
starts where the previous one stopped, so every node gets its turn. A pod that fits nowhere
has been checked against every node, so its reasons cover the whole cluster.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from minik8s.scheduler import filtering, scoring
from minik8s.scheduler.nodeinfo import NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for; `percentage` 0 means adaptive."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_nodes
    adaptive = percentage if percentage > 0 else 50 - num_nodes // 125
    adaptive = max(adaptive, MIN_FEASIBLE_NODES_PERCENTAGE)
    return max(num_nodes * adaptive // 100, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass
class Decision:
    node: NodeInfo | None
    """The chosen node; None when none fits."""
    total_nodes: int
    reasons: Counter[str] = field(default_factory=Counter)
    """Why nodes were rejected: reason → number of nodes."""
    evaluated: int = 0
    feasible: int = 0
    next_start: int = 0
    """Where the next search starts."""

    @property
    def message(self) -> str:
        return filtering.unschedulable_message(self.total_nodes, self.reasons)


def find_feasible(
    pod: PodInfo, nodes: Sequence[NodeInfo], start: int, wanted: int
) -> tuple[list[NodeInfo], Counter[str], int]:
    """Walk the nodes round-robin from `start` until `wanted` fit or all were checked.

    Returns the feasible nodes, the rejection reasons and how many nodes were checked.
    """
    total = len(nodes)
    feasible: list[NodeInfo] = []
    reasons: Counter[str] = Counter()
    check = filtering.check_node
    checked = 0
    order = itertools.chain(itertools.islice(nodes, start, None), itertools.islice(nodes, start))
    plain = filtering.is_plain(pod)
    cpu, memory = pod.cpu, pod.memory
    for node in order:
        checked += 1
        if (
            plain
            and node.clean
            and node.pod_count < node.allocatable_pods
            and node.requested_cpu + cpu <= node.allocatable_cpu
            and node.requested_memory + memory <= node.allocatable_memory
        ):  # check_node's answer for a plain pod on a clean node with room, inlined
            feasible.append(node)
            if len(feasible) >= wanted:
                break
            continue
        rejected = check(pod, node)
        if rejected:
            for reason in rejected:
                reasons[reason] += 1
            continue
        feasible.append(node)
        if len(feasible) >= wanted:
            break
    return feasible, reasons, min(checked, total)


def schedule(
    pod: PodInfo,
    nodes: Sequence[NodeInfo],
    start: int,
    rng: random.Random,
    percentage: int = 0,
    weights: scoring.ScoreWeights = scoring.DEFAULT_WEIGHTS,
) -> Decision:
    """Pick a node for `pod` among `nodes` (the cluster's node list, in a stable order)."""
    total = len(nodes)
    if total == 0:
        return Decision(None, 0)
    start %= total
    wanted = num_feasible_nodes_to_find(total, percentage)
    feasible, reasons, checked = find_feasible(pod, nodes, start, wanted)
    decision = Decision(
        None, total, reasons, checked, len(feasible), next_start=(start + checked) % total
    )
    if not feasible:
        return decision
    if len(feasible) == 1:
        decision.node = feasible[0]
        return decision
    scores = scoring.score_nodes(pod, feasible, weights)
    decision.node = scoring.select_host(feasible, scores, rng)
    return decision
