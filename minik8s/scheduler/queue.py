"""The scheduling queue, Kubernetes' three parts, pure (the clock is passed in):

- active: pods to schedule now, highest priority first, then oldest arrival;
- backoff: pods whose last attempt failed, waiting 1 s, 2 s, 4 s … up to 10 s per attempt;
- unschedulable: pods that fit nowhere, parked until the cluster changes (`move_all`) or
  `unschedulable_timeout` passes.

A popped pod is *in flight* until it is requeued or `done`. If the cluster changed while it was
in flight (a move request arrived after its pop), an unschedulable verdict sends it to backoff
rather than parking it, since the change may be what it needed.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from minik8s.scheduler.nodeinfo import PodInfo


@dataclass
class QueuedPod:
    pod: PodInfo
    attempts: int = 0
    """Scheduling attempts so far."""
    added: float = 0.0
    """When it entered the queue the first time (for the end-to-end latency)."""
    backoff_until: float = 0.0
    parked_at: float = 0.0
    """When it was last made unschedulable."""
    popped_cycle: int = 0
    arrival: int = -1
    """Arrival order, set once: among equal priorities the first to arrive goes first."""
    seq: int = 0
    """Version of its heap entry (older entries are stale)."""

    @property
    def key(self) -> str:
        return self.pod.key


class SchedulingQueue:
    def __init__(
        self,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        unschedulable_timeout: float = 300.0,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._counter = itertools.count()
        self._active: dict[str, QueuedPod] = {}
        self._active_heap: list[tuple[int, int, int, str]] = []
        self._backoff: dict[str, QueuedPod] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._in_flight: dict[str, QueuedPod] = {}
        self._cycle = 0
        """Pops so far: a scheduling cycle number."""
        self._move_cycle = -1
        """The cycle at the last move request."""

    # --- sizes ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    def __contains__(self, key: object) -> bool:
        return key in self._active or key in self._backoff or key in self._unschedulable

    def depths(self) -> dict[str, int]:
        return {
            "active": len(self._active),
            "backoff": len(self._backoff),
            "unschedulable": len(self._unschedulable),
        }

    def in_flight(self, key: str) -> bool:
        return key in self._in_flight

    # --- adding and removing -------------------------------------------------------------

    def _push_active(self, qp: QueuedPod) -> None:
        qp.seq = next(self._counter)
        if qp.arrival < 0:
            qp.arrival = qp.seq
        self._active[qp.key] = qp
        heapq.heappush(self._active_heap, (-qp.pod.priority, qp.arrival, qp.seq, qp.key))

    def _push_backoff(self, qp: QueuedPod) -> None:
        qp.seq = next(self._counter)
        self._backoff[qp.key] = qp
        heapq.heappush(self._backoff_heap, (qp.backoff_until, qp.seq, qp.key))

    def _take(self, key: str) -> QueuedPod | None:
        """Remove `key` from whichever part holds it (heaps are cleaned lazily)."""
        for part in (self._active, self._backoff, self._unschedulable):
            qp = part.pop(key, None)
            if qp is not None:
                return qp
        return None

    def add(self, pod: PodInfo, now: float) -> None:
        """A new pending pod: schedule it now. A pod already queued gets `update` instead."""
        if pod.key in self or pod.key in self._in_flight:
            self.update(pod, now)
            return
        self._push_active(QueuedPod(pod, added=now))

    def update(self, pod: PodInfo, now: float, changed: bool = True) -> None:
        """The pod changed. A parked pod whose spec/labels `changed` is retried (after its
        backoff); otherwise only its info is refreshed."""
        key = pod.key
        if key in self._in_flight:
            self._in_flight[key].pod = pod
            return
        if key in self._active or key in self._backoff:
            qp = self._take(key)
            assert qp is not None
            qp.pod = pod  # its priority may have changed: push it again
            self._requeue(qp, now)
            return
        qp = self._unschedulable.get(key)
        if qp is None:
            self._push_active(QueuedPod(pod, added=now))
            return
        qp.pod = pod
        if changed:
            del self._unschedulable[key]
            self._requeue(qp, now)

    def delete(self, key: str) -> None:
        """The pod is gone, bound or no longer ours."""
        self._take(key)
        self._in_flight.pop(key, None)

    # --- popping ---------------------------------------------------------------------------

    def pop(self, now: float) -> QueuedPod | None:
        """The next pod to schedule, after moving expired backoffs and stale parked pods."""
        self.flush(now)
        while self._active_heap:
            _, _, seq, key = heapq.heappop(self._active_heap)
            qp = self._active.get(key)
            if qp is None or qp.seq != seq:
                continue  # a stale heap entry
            del self._active[key]
            self._cycle += 1
            qp.attempts += 1
            qp.popped_cycle = self._cycle
            self._in_flight[key] = qp
            return qp
        return None

    def done(self, key: str) -> None:
        """The pod was scheduled (its binding is under way): it leaves the queue."""
        self._in_flight.pop(key, None)

    def flush(self, now: float) -> None:
        """Backoffs that ran out go active; pods parked too long are retried."""
        heap = self._backoff_heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            qp = self._backoff.get(key)
            if qp is None or qp.seq != seq:
                continue
            del self._backoff[key]
            self._push_active(qp)
        if self._unschedulable:
            stale = [
                qp
                for qp in self._unschedulable.values()
                if now - qp.parked_at >= self.unschedulable_timeout
            ]
            for qp in stale:
                del self._unschedulable[qp.key]
                self._requeue(qp, now)

    def next_ready_at(self) -> float | None:
        """When `pop` may next have something, if nothing is active now (None: never)."""
        if self._active:
            return 0.0
        times = [self._backoff_heap[0][0]] if self._backoff_heap else []
        if self._unschedulable:
            times.append(
                min(qp.parked_at for qp in self._unschedulable.values())
                + self.unschedulable_timeout
            )
        return min(times) if times else None

    # --- after an attempt ------------------------------------------------------------------

    def backoff_duration(self, attempts: int) -> float:
        """1 s after the first failed attempt, doubling, capped at `max_backoff`."""
        if attempts <= 0:
            return 0.0
        return min(self.initial_backoff * 2.0 ** min(attempts - 1, 30), self.max_backoff)

    def _requeue(self, qp: QueuedPod, now: float) -> None:
        if qp.backoff_until > now:
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def add_unschedulable(self, key: str, now: float) -> None:
        """The in-flight pod fits nowhere: park it (or back off, if the cluster changed)."""
        qp = self._in_flight.pop(key, None)
        if qp is None:
            return  # deleted or bound meanwhile
        qp.backoff_until = now + self.backoff_duration(qp.attempts)
        if self._move_cycle >= qp.popped_cycle:
            self._push_backoff(qp)
            return
        qp.parked_at = now
        self._unschedulable[key] = qp

    def add_backoff(self, key: str, now: float) -> None:
        """The in-flight pod failed for another reason (e.g. its binding): retry after backoff."""
        qp = self._in_flight.pop(key, None)
        if qp is None:
            return
        qp.backoff_until = now + self.backoff_duration(qp.attempts)
        self._push_backoff(qp)

    def requeue_in_flight(self, pod: PodInfo, now: float) -> None:
        """Put a pod back (e.g. its binding was cancelled) whether or not it is in flight."""
        qp = self._in_flight.pop(pod.key, None) or QueuedPod(pod, added=now)
        if pod.key not in self:
            qp.pod = pod
            self._push_active(qp)

    def abandon_in_flight(self) -> list[str]:
        """Forget every in-flight pod (their outcome is unknown); their keys."""
        keys = list(self._in_flight)
        self._in_flight.clear()
        return keys

    def move_all(self, now: float) -> int:
        """The cluster changed (node added/updated, pod deleted): retry every parked pod."""
        self._move_cycle = self._cycle
        parked = list(self._unschedulable.values())
        self._unschedulable.clear()
        for qp in parked:
            self._requeue(qp, now)
        return len(parked)
