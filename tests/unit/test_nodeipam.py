"""Pod CIDR allocation for nodes (minik8s.controllers.nodeipam_plan)."""

from __future__ import annotations

import pytest

from minik8s.controllers import nodeipam_plan as plan


def node(name: str, cidr: str | None = None, cidrs: list[str] | None = None) -> dict:
    spec: dict = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs:
        spec["podCIDRs"] = cidrs
    return {"metadata": {"name": name}, "spec": spec}


def test_new_nodes_get_consecutive_subnets_in_name_order() -> None:
    got = plan.allocate("10.244.0.0/16", 24, [node("node-2"), node("node-1")])
    assert got == {"node-1": "10.244.0.0/24", "node-2": "10.244.1.0/24"}


def test_taken_subnets_are_skipped_and_kept() -> None:
    nodes = [node("a", "10.244.0.0/24"), node("b"), node("c", cidrs=["10.244.2.0/24"])]
    assert plan.allocate("10.244.0.0/16", 24, nodes) == {"b": "10.244.1.0/24"}


def test_overlapping_foreign_cidrs_count_as_taken() -> None:
    taken = ["10.244.0.0/23", "fd00::/64", "garbage"]
    assert plan.next_free("10.244.0.0/16", 24, taken) == "10.244.2.0/24"


def test_full_range_raises() -> None:
    nodes = [node("a", "10.0.0.0/25"), node("b", "10.0.0.128/25"), node("c")]
    with pytest.raises(plan.RangeFull):
        plan.allocate("10.0.0.0/24", 25, nodes)


def test_mask_size_must_fit_the_cluster_cidr() -> None:
    with pytest.raises(ValueError):
        plan.next_free("10.244.0.0/16", 8, [])


def test_node_cidrs_merges_both_fields() -> None:
    assert plan.node_cidrs(node("a", "10.1.0.0/24", ["10.1.0.0/24", "fd00::/64"])) == [
        "10.1.0.0/24",
        "fd00::/64",
    ]
