"""API Priority and Fairness, the small part of it that keeps the control plane alive in a
request storm.

Every request except long-running ones (watches, exec/attach/portforward, proxy, logs) is
classified by who sends it and what it touches into one of Kubernetes' default FlowSchemas and
its priority level: `exempt` (group system:masters, health probes), `leader-election` (the
controller-managers' and scheduler's Leases, Endpoints and ConfigMaps in kube-system),
`node-high` (what a kubelet does to its Node and its node Lease), `system` (a kubelet's other
requests), `workload-high` (the controller-manager, scheduler and kube-system service accounts),
`workload-low` (other service accounts) and `global-default` (everyone else; Kubernetes'
`catch-all` level keeps its share of seats, but every user falls in global-default before).
Each level gets seats out of the server's concurrency limit (`--max-requests-inflight` +
`--max-mutating-requests-inflight`) in proportion to Kubernetes' nominal concurrency shares.
A request that finds its level's seats taken waits in the level's queue; one that finds the
queue full, or waits longer than the wait limit, is answered 429 TooManyRequests with
`Retry-After: 1`, as Kubernetes answers, and clients back off. So a registration storm queues
or is turned away at its own level while leader-election renewals and node heartbeats keep
theirs.

Kubernetes does more: FlowSchema and PriorityLevelConfiguration objects configure it (here the
defaults are fixed), each level has many queues with shuffle sharding so one flow cannot crowd
out another (here one FIFO queue per level), levels lend and borrow seats, and a request's
width counts in seats (here one seat each).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

from prometheus_client import Counter, Gauge, Histogram

from minik8s.api import errors
from minik8s.apiserver.authn.user import UserInfo
from minik8s.apiserver.requestinfo import Attributes

RETRY_AFTER_SECONDS = 1
MESSAGE = "Too many requests, please try again later."
WAIT_LIMIT = 15.0
"""Seconds a request may wait in its queue (Kubernetes: a quarter of `--request-timeout`)."""

MASTERS = "system:masters"
NODES = "system:nodes"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
KUBE_SYSTEM_ACCOUNT = "system:serviceaccount:kube-system:"
LEADER_ELECTION_USERS = frozenset(
    {"system:kube-controller-manager", "system:kube-scheduler", "system:cloud-controller-manager"}
)
LEADER_ELECTION_RESOURCES = frozenset(
    {("", "endpoints"), ("", "configmaps"), ("coordination.k8s.io", "leases")}
)
LEADER_ELECTION_VERBS = frozenset({"get", "create", "update"})
PROBES = frozenset({"/healthz", "/readyz", "/livez"})
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
READ_ONLY_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class PriorityLevel:
    """Kubernetes' default PriorityLevelConfiguration of that name (exempt: never limited)."""

    name: str
    shares: int
    """nominalConcurrencyShares."""
    queue_length: int
    """Requests that may wait (Kubernetes: queues x queueLengthLimit)."""
    exempt: bool = False


LEVELS = {
    level.name: level
    for level in (
        PriorityLevel("exempt", 0, 0, exempt=True),
        PriorityLevel("system", 30, 64 * 50),
        PriorityLevel("node-high", 40, 64 * 50),
        PriorityLevel("leader-election", 10, 16 * 50),
        PriorityLevel("workload-high", 40, 128 * 50),
        PriorityLevel("workload-low", 100, 128 * 50),
        PriorityLevel("global-default", 20, 128 * 50),
        PriorityLevel("catch-all", 5, 0),
    )
}


def is_long_running(attrs: Attributes) -> bool:
    """Kubernetes' long-running requests: watches, proxies and streams are not limited here."""
    return attrs.verb in LONG_RUNNING_VERBS or attrs.subresource in LONG_RUNNING_SUBRESOURCES


def classify(attrs: Attributes) -> tuple[str, str]:
    """(FlowSchema, priority level) of a request, as Kubernetes' default FlowSchemas match it,
    in their order of precedence."""
    user: UserInfo = attrs.user
    if MASTERS in user.groups:
        return "exempt", "exempt"
    if not attrs.resource_request:
        if attrs.verb == "get" and attrs.path in PROBES:
            return "probes", "exempt"
        return _by_user(user)
    if (
        (user.name in LEADER_ELECTION_USERS or user.name.startswith(KUBE_SYSTEM_ACCOUNT))
        and attrs.namespace == "kube-system"
        and attrs.verb in LEADER_ELECTION_VERBS
        and (attrs.api_group, attrs.resource) in LEADER_ELECTION_RESOURCES
    ):
        return "system-leader-election", "leader-election"
    if NODES in user.groups and (
        (attrs.resource == "nodes" and not attrs.api_group)
        or (attrs.resource == "leases" and attrs.api_group == "coordination.k8s.io")
    ):
        return "system-node-high", "node-high"
    return _by_user(user)


def _by_user(user: UserInfo) -> tuple[str, str]:
    if NODES in user.groups:
        return "system-nodes", "system"
    if user.name == "system:kube-controller-manager":
        return "kube-controller-manager", "workload-high"
    if user.name == "system:kube-scheduler":
        return "kube-scheduler", "workload-high"
    if user.name.startswith(KUBE_SYSTEM_ACCOUNT):
        return "kube-system-service-accounts", "workload-high"
    if user.name.startswith(SERVICE_ACCOUNT_PREFIX):
        return "service-accounts", "workload-low"
    return "global-default", "global-default"


def seats(concurrency_limit: int) -> dict[str, int]:
    """Each limited level's seats: the server's limit shared by nominal concurrency shares
    (Kubernetes' NominalCL = ceil(limit x shares / sum of shares))."""
    limited = [level for level in LEVELS.values() if not level.exempt]
    total = sum(level.shares for level in limited)
    return {level.name: math.ceil(concurrency_limit * level.shares / total) for level in limited}


REJECTED = Counter(
    "apiserver_flowcontrol_rejected_requests_total",
    "Requests answered 429 by API Priority and Fairness.",
    ["flow_schema", "priority_level", "reason"],
)
EXECUTING = Gauge(
    "apiserver_flowcontrol_current_executing_requests",
    "Requests executing, by priority level.",
    ["priority_level"],
)
IN_QUEUE = Gauge(
    "apiserver_flowcontrol_current_inqueue_requests",
    "Requests waiting in a queue, by priority level.",
    ["priority_level"],
)
NOMINAL_SEATS = Gauge(
    "apiserver_flowcontrol_nominal_limit_seats", "Seats of each priority level.", ["priority_level"]
)
WAIT = Histogram(
    "apiserver_flowcontrol_request_wait_duration_seconds",
    "How long requests waited in their queue, by priority level and whether they then ran.",
    ["priority_level", "execute"],
    buckets=(0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30),
)
INFLIGHT = Gauge(
    "apiserver_current_inflight_requests",
    "Requests executing (long-running ones excluded), by kind.",
    ["request_kind"],
)


@dataclass
class Level:
    """One priority level's seats and its FIFO queue of waiting requests. Its gauges read
    `executing` and `waiting` when scraped, and its other metric children are bound once (as
    Go code binds `WithLabelValues` once): a request touches no Prometheus lock on its way."""

    name: str
    seats: int
    queue_length: int
    executing: int = 0
    queue: deque[asyncio.Future[bool]] = field(default_factory=deque)
    """Waiters: each future's result is True when a seat passed to it, False on time-out."""
    waiting: int = 0
    """Requests in the queue still waiting (the queue may hold some that left a moment ago)."""
    waited: dict[bool, Histogram] = field(init=False, repr=False, default_factory=dict)
    rejected: dict[tuple[str, str], Counter] = field(init=False, repr=False, default_factory=dict)
    """By (flow schema, reason), bound on the first rejection."""

    def __post_init__(self) -> None:
        EXECUTING.labels(self.name).set_function(lambda: self.executing)
        IN_QUEUE.labels(self.name).set_function(lambda: self.waiting)

    def try_take(self) -> bool:
        if self.executing < self.seats and not self.queue:
            self.executing += 1
            return True
        return False

    def release(self) -> None:
        """Give the seat to the first waiter still waiting, else free it."""
        while self.queue:
            waiter = self.queue.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the seat passes on: executing stays
                return
        self.executing -= 1

    def observe_wait(self, ran: bool, seconds: float) -> None:
        histogram = self.waited.get(ran)
        if histogram is None:
            histogram = self.waited[ran] = WAIT.labels(self.name, str(ran).lower())
        histogram.observe(seconds)

    def reject(self, schema: str, reason: str) -> None:
        counter = self.rejected.get((schema, reason))
        if counter is None:
            counter = self.rejected[schema, reason] = REJECTED.labels(schema, self.name, reason)
        counter.inc()


@dataclass(frozen=True)
class Ticket:
    """A request admitted: the seat it holds (None: exempt) and its kind for the gauges. One
    per (level, kind), made once: admitting a request allocates none."""

    level: Level | None
    kind: str


KINDS = ("readOnly", "mutating")


class FlowControl:
    """The priority levels of one apiserver: `admit` a request, `done` when it has finished.
    The gauges read the FlowControl made last (an apiserver process makes one)."""

    def __init__(self, concurrency_limit: int, wait_limit: float = WAIT_LIMIT) -> None:
        self.wait_limit = wait_limit
        shares = seats(concurrency_limit)
        self.levels = {n: Level(n, k, LEVELS[n].queue_length) for n, k in shares.items()}
        for name, k in shares.items():
            NOMINAL_SEATS.labels(name).set(k)
        self.tickets: dict[tuple[str, str], Ticket] = {
            (name, kind): Ticket(self.levels.get(name), kind) for name in LEVELS for kind in KINDS
        }
        self.inflight = dict.fromkeys(KINDS, 0)
        for kind in KINDS:
            INFLIGHT.labels(kind).set_function(partial(self.inflight.__getitem__, kind))

    async def admit(self, attrs: Attributes) -> Ticket | None:
        """Hold a seat for the request (None: long-running, not limited); a 429
        TooManyRequests when its level's queue is full or it waited too long."""
        if is_long_running(attrs):
            return None
        schema, name = classify(attrs)
        ticket = self.tickets[name, "readOnly" if attrs.verb in READ_ONLY_VERBS else "mutating"]
        level = ticket.level
        if level is not None:
            if not level.try_take():
                reason = await self._wait(level)
                if reason:
                    level.reject(schema, reason)
                    raise too_many_requests()
        self.inflight[ticket.kind] += 1
        return ticket

    def done(self, ticket: Ticket | None) -> None:
        if ticket is None:
            return
        self.inflight[ticket.kind] -= 1
        if ticket.level is not None:
            ticket.level.release()

    async def acquire(self, level: Level) -> str:
        """Take a seat of `level`, waiting in its queue if need be: "" when taken, else why
        not ("queue-full", "time-out")."""
        if level.try_take():
            return ""
        return await self._wait(level)

    async def _wait(self, level: Level) -> str:
        """Wait in `level`'s queue for a seat passed on by `release`: "" when it came, else
        why not. One future and one timer per wait (not `asyncio.wait`'s task machinery)."""
        if len(level.queue) >= level.queue_length:
            return "queue-full"
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        level.queue.append(waiter)
        timer = loop.call_later(self.wait_limit, _time_out, waiter)
        started = time.monotonic()
        level.waiting += 1
        try:
            ran = await waiter
        except BaseException:  # cancelled while waiting: leave, or pass on a seat just granted
            if waiter.done() and not waiter.cancelled() and waiter.result():
                level.release()
            else:
                _leave(level.queue, waiter)
            raise
        finally:
            timer.cancel()
            level.waiting -= 1
        level.observe_wait(ran, time.monotonic() - started)
        if not ran:
            _leave(level.queue, waiter)
            return "time-out"
        return ""


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _leave(queue: deque[asyncio.Future[bool]], waiter: asyncio.Future[bool]) -> None:
    waiter.cancel()
    try:
        queue.remove(waiter)
    except ValueError:
        pass


def too_many_requests() -> errors.TooManyRequests:
    return errors.TooManyRequests(MESSAGE, retry_after_seconds=RETRY_AFTER_SECONDS)
