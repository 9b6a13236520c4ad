"""API Priority and Fairness: classification into Kubernetes' default FlowSchemas, seats per
priority level, the queue and its 429s (apiserver/flowcontrol.py)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import Gauge

from minik8s.api import errors
from minik8s.apiserver import flowcontrol
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import parse
from minik8s.kubelet.node import registration_backoff

CM = UserInfo("system:kube-controller-manager", groups=("system:authenticated",))
SCHEDULER = UserInfo("system:kube-scheduler", groups=("system:authenticated",))
CCM = UserInfo("system:cloud-controller-manager", groups=("system:authenticated",))
NODE = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))
ADMIN = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))
APP = UserInfo("system:serviceaccount:default:app", groups=("system:serviceaccounts",))
KUBE_SYSTEM_SA = UserInfo("system:serviceaccount:kube-system:coredns")
ALICE = UserInfo("alice", groups=("system:authenticated",))

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
NODE_LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"


def classify(user: UserInfo, method: str, path: str, query: bytes = b"") -> tuple[str, str]:
    return flowcontrol.classify(parse(user, method, path, query))


@pytest.mark.parametrize("user", [CM, SCHEDULER, CCM, KUBE_SYSTEM_SA])
def test_leader_election_leases_have_their_own_level(user: UserInfo) -> None:
    assert classify(user, "PUT", LEASE) == ("system-leader-election", "leader-election")
    assert classify(user, "GET", LEASE) == ("system-leader-election", "leader-election")
    assert classify(user, "GET", "/api/v1/namespaces/kube-system/endpoints/x")[1] == (
        "leader-election"
    )


def test_leases_elsewhere_or_by_others_are_not_leader_election() -> None:
    other_ns = "/apis/coordination.k8s.io/v1/namespaces/default/leases/x"
    assert classify(CM, "PUT", other_ns) == ("kube-controller-manager", "workload-high")
    assert classify(CM, "DELETE", LEASE) == ("kube-controller-manager", "workload-high")
    assert classify(ALICE, "PUT", LEASE) == ("global-default", "global-default")


def test_a_nodes_own_node_and_lease_are_node_high_the_rest_system() -> None:
    assert classify(NODE, "PUT", NODE_LEASE) == ("system-node-high", "node-high")
    assert classify(NODE, "POST", "/api/v1/nodes") == ("system-node-high", "node-high")
    assert classify(NODE, "PATCH", "/api/v1/nodes/n1/status") == ("system-node-high", "node-high")
    assert classify(NODE, "GET", "/api/v1/pods", b"fieldSelector=spec.nodeName%3Dn1") == (
        "system-nodes",
        "system",
    )


def test_everyone_else() -> None:
    assert classify(ADMIN, "POST", "/api/v1/namespaces/default/pods") == ("exempt", "exempt")
    assert classify(ALICE, "GET", "/healthz") == ("probes", "exempt")
    assert classify(ALICE, "GET", "/metrics") == ("global-default", "global-default")
    assert classify(SCHEDULER, "POST", "/api/v1/namespaces/d/pods/p/binding")[1] == (
        "workload-high"
    )
    assert classify(KUBE_SYSTEM_SA, "GET", "/api/v1/services") == (
        "kube-system-service-accounts",
        "workload-high",
    )
    assert classify(APP, "GET", "/api/v1/namespaces/default/pods") == (
        "service-accounts",
        "workload-low",
    )
    assert classify(ALICE, "GET", "/api/v1/namespaces/default/pods")[1] == "global-default"


def test_long_running_requests_are_not_limited() -> None:
    watch = parse(NODE, "GET", "/api/v1/pods", b"watch=true")
    logs = parse(ALICE, "GET", "/api/v1/namespaces/d/pods/p/log")
    exec_ = parse(ALICE, "POST", "/api/v1/namespaces/d/pods/p/exec")
    plain = parse(ALICE, "GET", "/api/v1/namespaces/d/pods/p")
    assert flowcontrol.is_long_running(watch)
    assert flowcontrol.is_long_running(logs) and flowcontrol.is_long_running(exec_)
    assert not flowcontrol.is_long_running(plain)


def test_seats_are_shared_by_nominal_concurrency_shares() -> None:
    shares = flowcontrol.seats(600)  # Kubernetes' default 400 + 200
    assert shares == {
        "system": 74,
        "node-high": 98,
        "leader-election": 25,
        "workload-high": 98,
        "workload-low": 245,
        "global-default": 49,
        "catch-all": 13,
    }
    assert all(n >= 1 for n in flowcontrol.seats(1).values())


async def test_a_wait_past_the_limit_and_a_full_queue_are_rejected() -> None:
    flow = flowcontrol.FlowControl(1, wait_limit=0.01)
    level = flow.levels["global-default"]
    assert await flow.acquire(level) == ""
    assert await flow.acquire(level) == "time-out"
    assert not level.queue
    level.queue_length = 0
    assert await flow.acquire(level) == "queue-full"
    level.release()
    assert level.executing == 0


@pytest.mark.parametrize("ending", ["seat-handed-on", "cancelled", "cancelled-once-handed-on"])
async def test_a_full_level_queues_its_waiter_until_a_seat_or_cancellation(ending: str) -> None:
    """The freed seat passes to the waiter; a waiter cancelled leaves the queue, and one
    cancelled after its seat came passes the seat on (here: frees it)."""
    flow = flowcontrol.FlowControl(1, wait_limit=5.0)
    level = flow.levels["global-default"]
    assert await flow.acquire(level) == ""
    waiting = asyncio.ensure_future(flow.acquire(level))
    await asyncio.sleep(0)
    assert not waiting.done() and len(level.queue) == 1
    assert gauge(flowcontrol.IN_QUEUE, priority_level="global-default") == 1
    if ending != "cancelled":
        level.release()  # the seat passes to the waiter
    if ending == "seat-handed-on":
        assert await waiting == ""
    else:
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert gauge(flowcontrol.IN_QUEUE, priority_level="global-default") == 0
    assert not level.queue
    assert level.executing == (0 if ending == "cancelled-once-handed-on" else 1)
    if level.executing:
        level.release()
        assert level.executing == 0


async def test_admit_answers_429_with_retry_after_and_exempts_masters() -> None:
    flow = flowcontrol.FlowControl(1, wait_limit=0.01)
    get = parse(ALICE, "GET", "/api/v1/namespaces/d/pods/p")
    ticket = await flow.admit(get)
    with pytest.raises(errors.TooManyRequests) as e:
        await flow.admit(get)
    assert e.value.retry_after_seconds == 1
    lease = await flow.admit(parse(CM, "PUT", LEASE))  # its own level still has a seat
    admin = await flow.admit(parse(ADMIN, "GET", "/api/v1/namespaces/d/pods/p"))
    assert lease is not None and admin is not None and admin.level is None
    assert gauge(flowcontrol.EXECUTING, priority_level="global-default") == 1
    assert gauge(flowcontrol.INFLIGHT, request_kind="readOnly") == 2
    assert gauge(flowcontrol.INFLIGHT, request_kind="mutating") == 1
    for t in (ticket, lease, admin):
        flow.done(t)
    assert all(level.executing == 0 for level in flow.levels.values())
    assert gauge(flowcontrol.EXECUTING, priority_level="global-default") == 0
    assert gauge(flowcontrol.INFLIGHT, request_kind="readOnly") == 0


def gauge(metric: Gauge, **labels: str) -> float | None:
    """The value a scrape would read now."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.labels == labels:
                return sample.value
    return None


def test_kubelet_registration_backoff_doubles_to_7s_with_jitter() -> None:
    assert registration_backoff(1, 0.0) == pytest.approx(0.1)
    assert registration_backoff(2, 0.0) == pytest.approx(0.2)
    assert registration_backoff(20, 0.0) == 7.0
    assert registration_backoff(1, 0.5) == pytest.approx(0.15)
