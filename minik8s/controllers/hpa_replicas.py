"""The replica count a resource metric asks for (pure): Kubernetes' replica calculator.

For a Utilization target the pods' usage is summed against their requests; a ratio within
the tolerance (10%) of 1 changes nothing. Pods that are deleting or failed are ignored;
pending pods, and for CPU pods still starting up (not ready, or ready so recently that the
sample may predate it, within the CPU initialization period), count as unready; pods without
a sample count as missing. When scaling up, unready pods are assumed to use nothing; missing
pods are assumed to use their full request (when scaling down) or nothing (when scaling up);
if that flips the direction or lands within the tolerance, nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from minik8s.api import meta, quantity, times
from minik8s.api.meta import Object


class MetricError(Exception):
    """The metric cannot give a replica count (the reason is the message)."""


@dataclass(frozen=True)
class Sample:
    value: int
    """Usage: CPU in millicores, memory in bytes."""
    timestamp: float
    window: float


@dataclass(frozen=True)
class Proposal:
    replicas: int
    utilization: int | None
    """Average usage as a percentage of requests (Utilization targets)."""
    average: int
    """Average usage per pod (millicores or bytes)."""


def amount(resource: str, value: Any) -> int:
    """A quantity in the unit the calculator counts: millicores for cpu, bytes otherwise."""
    return quantity.cpu_millis(value) if resource == "cpu" else quantity.memory_bytes(value)


def pod_samples(pod_metrics: list[Object], resource: str, container: str = "") -> dict[str, Sample]:
    """Per pod name: the summed usage of its containers (or of `container` only)."""
    out: dict[str, Sample] = {}
    for item in pod_metrics:
        total, found = 0, False
        for c in item.get("containers") or []:
            if container and c.get("name") != container:
                continue
            usage = (c.get("usage") or {}).get(resource)
            if usage is not None:
                total += amount(resource, usage)
                found = True
        if not found:
            continue
        out[meta.name_of(item)] = Sample(
            total,
            times.parse_timestamp(item.get("timestamp")) or 0.0,
            times.parse_duration(item.get("window") or "0s"),
        )
    return out


def pod_requests(pods: list[Object], resource: str, container: str = "") -> dict[str, int]:
    """Per pod name: its containers' request of `resource`; a container without one is an
    error, as in Kubernetes."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise MetricError(
                    f"missing request for {resource} in container {c.get('name')} of Pod "
                    f"{meta.name_of(pod)}"
                )
            total += amount(resource, request)
        out[meta.name_of(pod)] = total
    return out


@dataclass(frozen=True)
class Timing:
    now: float
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0


def group_pods(
    pods: list[Object], samples: dict[str, Sample], resource: str, timing: Timing
) -> tuple[int, set[str], set[str], set[str]]:
    """(ready count, unready, missing, ignored) pod names."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = meta.name_of(pod)
        phase = (pod.get("status") or {}).get("phase")
        if meta.is_deleting(pod) or phase == "Failed":
            ignored.add(name)
            continue
        if phase == "Pending":
            unready.add(name)
            continue
        sample = samples.get(name)
        if sample is None:
            missing.add(name)
            continue
        if resource == "cpu" and _cpu_unready(pod, sample, timing):
            unready.add(name)
            continue
        ready += 1
    return ready, unready, missing, ignored


def _cpu_unready(pod: Object, sample: Sample, timing: Timing) -> bool:
    condition = meta.get_condition(pod, "Ready")
    started = times.parse_timestamp((pod.get("status") or {}).get("startTime"))
    if condition is None or started is None:
        return True
    transition = times.parse_timestamp(condition.get("lastTransitionTime")) or 0.0
    if started + timing.cpu_initialization_period > timing.now:
        return condition.get("status") == "False" or sample.timestamp < transition + sample.window
    return (
        condition.get("status") == "False" and started + timing.initial_readiness_delay > transition
    )


def utilization_ratio(
    samples: dict[str, Sample], requests: dict[str, int], target: int
) -> tuple[float, int, int]:
    """(usage ratio, utilization %, average usage) of the pods that have a request."""
    used = requested = count = 0
    for name, sample in samples.items():
        if name not in requests:
            continue
        used += sample.value
        requested += requests[name]
        count += 1
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = int(used * 100 / requested)
    return utilization / target, utilization, used // count


def resource_replicas(
    current: int,
    target_utilization: int,
    resource: str,
    pods: list[Object],
    samples: dict[str, Sample],
    tolerance: float,
    timing: Timing,
    container: str = "",
) -> Proposal:
    """GetResourceReplicas: the replicas a Utilization target asks for."""
    if not samples:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from "
            "resource metrics API"
        )
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, samples, resource, timing)
    samples = {n: s for n, s in samples.items() if n not in ignored and n not in unready}
    if not samples:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    requests = pod_requests(pods, resource, container)
    ratio, utilization, average = utilization_ratio(samples, requests, target_utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, utilization, average)
        return Proposal(math.ceil(ratio * ready), utilization, average)
    filled = dict(samples)
    if missing:
        if ratio < 1.0:
            fallback = max(100, target_utilization)
            for name in missing:
                filled[name] = Sample(requests.get(name, 0) * fallback // 100, 0.0, 0.0)
        elif ratio > 1.0:
            for name in missing:
                filled[name] = Sample(0, 0.0, 0.0)
    if scale_up_with_unready:
        for name in unready:
            filled[name] = Sample(0, 0.0, 0.0)
    new_ratio, _, _ = utilization_ratio(filled, requests, target_utilization)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Proposal(current, utilization, average)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return Proposal(current, utilization, average)
    return Proposal(replicas, utilization, average)


def raw_resource_replicas(
    current: int,
    target_average: int,
    resource: str,
    pods: list[Object],
    samples: dict[str, Sample],
    tolerance: float,
    timing: Timing,
) -> Proposal:
    """An AverageValue target: the pods' average usage against a fixed amount per pod."""
    if not samples:
        raise MetricError(
            f"unable to get metrics for resource {resource}: no metrics returned from "
            "resource metrics API"
        )
    _, unready, _, ignored = group_pods(pods, samples, resource, timing)
    samples = {n: s for n, s in samples.items() if n not in ignored and n not in unready}
    if not samples or target_average <= 0:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    total = sum(s.value for s in samples.values())
    ratio = total / (target_average * len(samples))
    average = total // len(samples)
    if abs(1.0 - ratio) <= tolerance:
        return Proposal(current, None, average)
    return Proposal(math.ceil(total / target_average), None, average)
