"""The assume cache: assumed pods count at once; the watch confirms; failures forget; expiry."""

from __future__ import annotations

from minik8s.scheduler.cache import SchedulerCache
from minik8s.scheduler.nodeinfo import pod_info
from tests.support.scheduling import node, pod


def bound(name: str, node_name: str, cpu: str = "1", phase: str = "Running") -> dict:
    obj = pod(name, cpu)
    obj["spec"]["nodeName"] = node_name
    obj["status"] = {"phase": phase}
    return obj


def test_assume_then_confirm_counts_once() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a", cpu="4"))
    cache.assume(pod_info(pod("p", "1")), "a")
    assert cache.nodes["a"].requested_cpu == 1000 and cache.is_assumed("default/p")
    cache.set_pod(pod_info(bound("p", "a")))
    assert cache.nodes["a"].requested_cpu == 1000 and not cache.is_assumed("default/p")
    assert not cache.forget("default/p")  # confirmed pods are not forgotten
    assert cache.nodes["a"].requested_cpu == 1000


def test_forget_releases_the_assumption() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.assume(pod_info(pod("p", "1")), "a")
    assert cache.forget("default/p")
    assert cache.nodes["a"].requested_cpu == 0 and cache.nodes["a"].pod_count == 0


def test_bound_elsewhere_moves_the_pod() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.set_node(node("b"))
    cache.assume(pod_info(pod("p", "1")), "a")
    cache.set_pod(pod_info(bound("p", "b")))
    assert cache.nodes["a"].requested_cpu == 0 and cache.nodes["b"].requested_cpu == 1000


def test_unconfirmed_assumptions_expire_after_their_binding() -> None:
    cache = SchedulerCache(assumed_ttl=30)
    cache.set_node(node("a"))
    cache.assume(pod_info(pod("p", "1")), "a")
    assert cache.expire(now=1000.0) == []  # binding not finished: no clock yet
    cache.finish_binding("default/p", now=100.0)
    assert cache.expire(now=129.0) == []
    assert cache.expire(now=130.0) == ["default/p"]
    assert cache.nodes["a"].requested_cpu == 0


def test_terminal_and_deleted_pods_free_their_node() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a"))
    cache.set_pod(pod_info(bound("p", "a")))
    cache.set_pod(pod_info(bound("q", "a")))
    cache.set_pod(pod_info(bound("p", "a", phase="Succeeded")))
    cache.remove_pod("default/q")
    assert cache.nodes["a"].requested_cpu == 0 and len(cache) == 0


def test_pods_on_unknown_nodes_wait_for_the_node() -> None:
    cache = SchedulerCache()
    cache.set_pod(pod_info(bound("p", "late")))
    assert cache.node_list() == []
    cache.set_node(node("late"))
    assert [n.name for n in cache.node_list()] == ["late"]
    assert cache.nodes["late"].requested_cpu == 1000
    cache.remove_node("late")
    assert cache.node_list() == [] and cache.nodes["late"].requested_cpu == 1000
    cache.remove_pod("default/p")
    assert "late" not in cache.nodes


def test_node_update_keeps_the_pods() -> None:
    cache = SchedulerCache()
    cache.set_node(node("a", cpu="1"))
    cache.set_pod(pod_info(bound("p", "a")))
    cache.set_node(node("a", cpu="8", unschedulable=True))
    info = cache.nodes["a"]
    assert (info.allocatable_cpu, info.requested_cpu, info.clean) == (8000, 1000, False)
