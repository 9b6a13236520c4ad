"""Where pod startup waits: clusterloader2's PodStartupLatency phases, per pod.

clusterloader2 (perf-tests, `measurement/common/slos/pod_startup_latency.go`) splits a pod's
startup into create_to_schedule, schedule_to_run, run_to_watch, schedule_to_watch and
pod_startup, from the pod's creationTimestamp, its scheduling time, the time its containers
ran (as the kubelet wrote it) and the time its own watch saw the pod Running. This recorder
keeps the same times for every pod a watch hands it, plus what the written timestamps cannot
show:

- as written in the API (`metav1.Time`: whole seconds, so each of these phases is off by up to
  1 s and a 0 means "within the same second"): creationTimestamp, the PodScheduled condition's
  lastTransitionTime (written by the binding), the kubelet's `status.startTime` (its first sync
  of the pod), the latest container's `state.running.startedAt` (clusterloader2's run time; the
  Ready condition's lastTransitionTime when there is none) and the Ready condition's
  lastTransitionTime;
- as seen by the bench's own watch (wall clock, sub-second): first sight, first sight with
  `spec.nodeName` (bound), first sight Running.

The watch-observed phases are the ones to trust below a second; the written ones say which
component a pod waited in (scheduler, kubelet, status write and watch delivery).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.stats import percentile
from minik8s.api.meta import Object, get_condition
from minik8s.api.times import parse_timestamp


@dataclass
class PodTimes:
    """One pod's startup times in POSIX seconds (None: not (yet) known)."""

    created: float | None = None
    scheduled: float | None = None
    started: float | None = None
    run: float | None = None
    ready: float | None = None
    seen: float | None = None
    seen_bound: float | None = None
    seen_running: float | None = None


PHASES: tuple[tuple[str, str, str], ...] = (
    # clusterloader2's five, from the written times and our watch's sight of Running
    ("create_to_schedule", "created", "scheduled"),
    ("schedule_to_run", "scheduled", "run"),
    ("run_to_watch", "run", "seen_running"),
    ("schedule_to_watch", "scheduled", "seen_running"),
    ("pod_startup", "created", "seen_running"),
    # inside schedule_to_run, as the kubelet wrote it
    ("schedule_to_kubelet_sync", "scheduled", "started"),
    ("kubelet_sync_to_run", "started", "run"),
    ("run_to_ready", "run", "ready"),
    # sub-second, all three by our watch
    ("watch_create_to_bound", "seen", "seen_bound"),
    ("watch_bound_to_running", "seen_bound", "seen_running"),
    ("watch_create_to_running", "seen", "seen_running"),
)
"""(phase, from, to): the names of `PodTimes` fields a phase runs between."""


def _run_time(pod: Object) -> float | None:
    """The latest container's running.startedAt (clusterloader2's run time)."""
    started = [
        parse_timestamp(((s.get("state") or {}).get("running") or {}).get("startedAt"))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    known = [t for t in started if t is not None]
    return max(known) if known else None


def _condition_time(pod: Object, kind: str) -> float | None:
    condition = get_condition(pod, kind)
    if not condition or condition.get("status") != "True":
        return None
    return parse_timestamp(condition.get("lastTransitionTime"))


class StartupPhases:
    """Per-pod startup times from a pod watch; `on_pod` is its add and update handler."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.pods: dict[str, PodTimes] = {}

    def on_pod(self, pod: Object) -> None:
        now = self.clock()
        uid = str(pod["metadata"]["uid"])
        times = self.pods.setdefault(uid, PodTimes(seen=now))
        if times.created is None:
            times.created = parse_timestamp(pod["metadata"].get("creationTimestamp"))
        if times.seen_bound is None and (pod.get("spec") or {}).get("nodeName"):
            times.seen_bound = now
        status = pod.get("status") or {}
        if times.scheduled is None:
            times.scheduled = _condition_time(pod, "PodScheduled")
        if times.started is None:
            times.started = parse_timestamp(status.get("startTime"))
        if times.seen_running is None and status.get("phase") == "Running":
            times.seen_running = now
            times.ready = _condition_time(pod, "Ready")
            times.run = _run_time(pod) or times.ready

    def phases(self, uids: Iterable[str] | None = None) -> dict[str, list[float]]:
        """Each phase's durations over the pods (those of `uids`) that have both ends."""
        chosen = self.pods.values() if uids is None else [
            self.pods[u] for u in uids if u in self.pods
        ]  # fmt: skip
        out: dict[str, list[float]] = {}
        for name, start, end in PHASES:
            values = []
            for times in chosen:
                a, b = getattr(times, start), getattr(times, end)
                if a is not None and b is not None:
                    values.append(b - a)
            out[name] = sorted(values)
        return out

    def report(self, label: str, uids: Iterable[str] | None = None) -> list[str]:
        """One line per phase: p50/p90/p99/max and the number of pods."""
        lines = [
            f"{label}: where pod startup waits (clusterloader2's phases; written times have "
            "whole seconds, watch_* are our watch's sub-second sightings)"
        ]
        for name, values in self.phases(uids).items():
            if not values:
                lines.append(f"  {name:<26} n=0")
                continue
            lines.append(
                f"  {name:<26} p50 {percentile(values, 0.5):6.2f}s "
                f"p90 {percentile(values, 0.9):6.2f}s p99 {percentile(values, 0.99):6.2f}s "
                f"max {values[-1]:6.2f}s (n={len(values)})"
            )
        return lines
