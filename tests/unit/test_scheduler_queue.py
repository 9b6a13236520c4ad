"""The scheduling queue: priority then arrival, backoff 1 s doubling to 10 s, parking and
retrying unschedulable pods when the cluster changes."""

from __future__ import annotations

import pytest

from minik8s.scheduler.nodeinfo import PodInfo, pod_info
from minik8s.scheduler.queue import SchedulingQueue
from tests.support.scheduling import pod


def info(name: str, priority: int | None = None) -> PodInfo:
    return pod_info(pod(name, priority=priority))


def pop_all(queue: SchedulingQueue, now: float) -> list[str]:
    names = []
    while (qp := queue.pop(now)) is not None:
        names.append(qp.pod.name)
        queue.done(qp.key)
    return names


def test_priority_first_then_arrival() -> None:
    queue = SchedulingQueue()
    for name, priority in [("a", 0), ("b", 10), ("c", 0), ("d", 10), ("e", -1)]:
        queue.add(info(name, priority), now=0)
    assert pop_all(queue, 0) == ["b", "d", "a", "c", "e"]


def test_update_keeps_the_place_in_line() -> None:
    queue = SchedulingQueue()
    for name in "abc":
        queue.add(info(name), now=0)
    queue.update(info("a"), now=0)
    queue.add(info("b"), now=0)  # a duplicate add is an update
    assert pop_all(queue, 0) == ["a", "b", "c"]
    assert len(queue) == 0


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0),
                              (50, 10.0)]
)  # fmt: skip
def test_backoff_doubles_up_to_the_cap(attempts: int, seconds: float) -> None:
    assert SchedulingQueue(1.0, 10.0).backoff_duration(attempts) == seconds


def test_failed_pods_wait_out_their_backoff() -> None:
    queue = SchedulingQueue()
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None and qp.attempts == 1
    queue.add_backoff(qp.key, now=0)
    assert queue.depths() == {"active": 0, "backoff": 1, "unschedulable": 0}
    assert queue.pop(now=0.99) is None
    assert queue.next_ready_at() == 1.0
    qp = queue.pop(now=1.0)
    assert qp is not None and qp.attempts == 2
    queue.add_backoff(qp.key, now=1.0)
    assert queue.pop(now=2.9) is None and queue.pop(now=3.0) is not None


def test_unschedulable_pods_wait_for_a_cluster_change() -> None:
    queue = SchedulingQueue(unschedulable_timeout=300)
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None
    queue.add_unschedulable(qp.key, now=0)
    assert queue.depths()["unschedulable"] == 1
    assert queue.pop(now=100) is None  # parked, even after its backoff
    assert queue.move_all(now=100) == 1
    assert [p for p in pop_all(queue, 100)] == ["a"]


def test_a_moved_pod_still_in_backoff_waits_for_it() -> None:
    queue = SchedulingQueue()
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None
    queue.add_unschedulable(qp.key, now=0)
    queue.move_all(now=0.5)
    assert queue.pop(now=0.5) is None
    assert queue.pop(now=1.0) is not None


def test_unschedulable_pods_are_retried_after_the_timeout() -> None:
    queue = SchedulingQueue(unschedulable_timeout=60)
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None
    queue.add_unschedulable(qp.key, now=0)
    assert queue.next_ready_at() == 60
    assert queue.pop(now=59) is None and queue.pop(now=60) is not None


def test_a_change_during_the_attempt_sends_the_pod_to_backoff_not_parking() -> None:
    queue = SchedulingQueue()
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None
    queue.move_all(now=0)  # e.g. a node was added while "a" was being scheduled
    queue.add_unschedulable(qp.key, now=0)
    assert queue.depths() == {"active": 0, "backoff": 1, "unschedulable": 0}


def test_spec_changes_retry_a_parked_pod_status_changes_do_not() -> None:
    queue = SchedulingQueue()
    queue.add(info("a"), now=0)
    qp = queue.pop(now=0)
    assert qp is not None
    queue.add_unschedulable(qp.key, now=0)
    queue.update(info("a"), now=5, changed=False)
    assert queue.depths()["unschedulable"] == 1
    queue.update(info("a"), now=5, changed=True)
    assert queue.pop(now=5) is not None


def test_deleted_pods_leave_every_part_of_the_queue() -> None:
    queue = SchedulingQueue()
    for name in "abc":
        queue.add(info(name), now=0)
    a = queue.pop(now=0)
    b = queue.pop(now=0)
    assert a is not None and b is not None
    queue.add_backoff(a.key, now=0)
    for name in "abc":  # in backoff, in flight (its verdict is then ignored), active
        queue.delete(f"default/{name}")
    queue.add_unschedulable(b.key, now=0)
    assert len(queue) == 0 and queue.pop(now=100) is None
