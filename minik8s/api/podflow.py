"""The seed flow's steps as read from the API's own data (shared by `minikctl run --trace` and
the dashboard's "follow one pod"): a pure function from a pod and its
Events to the steps that have happened so far, each with a key (so a live trace prints each
step once), the time the API recorded for it, and a one-line detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from minik8s.api import meta, times
from minik8s.api.meta import Object


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    detail: str
    when: datetime | None = None
    """When the API says it happened (second precision for conditions and Events)."""


def _event_source(event: Object) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or "unknown"
    host = source.get("host") or event.get("reportingInstance")
    return f"{component} ({host})" if host and host != component else str(component)


def _event_time(event: Object) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = times.parse_time(event.get(key))
        if moment is not None:
            return moment
    return times.parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def event_steps(pod: Object, events: list[Object]) -> list[Step]:
    """One step per Event about this pod (this uid), oldest first."""
    uid = (pod.get("metadata") or {}).get("uid")
    mine = [
        e
        for e in events
        if not uid
        or not (e.get("involvedObject") or {}).get("uid")
        or (e.get("involvedObject") or {}).get("uid") == uid
    ]
    mine.sort(key=lambda e: _event_time(e) or datetime.min.replace(tzinfo=UTC))
    steps = []
    for event in mine:
        md = event.get("metadata") or {}
        count = int(event.get("count") or 1)
        key = f"event/{md.get('uid') or md.get('name')}/{count}"
        title = f"{event.get('reason', '')}"
        if event.get("type") == "Warning":
            title = f"{title} (Warning)"
        repeated = f" (x{count})" if count > 1 else ""
        detail = f"{_event_source(event)}: {event.get('message', '')}{repeated}"
        steps.append(Step(key, title, detail, _event_time(event)))
    return steps


def _containers_created(status: Object) -> str | None:
    statuses = status.get("containerStatuses") or []
    if not statuses or not all(s.get("containerID") for s in statuses):
        return None
    parts = []
    for s in statuses:
        state = s.get("state") or {}
        phase = next(iter(state), "unknown")
        parts.append(f"{s.get('name')}: {phase} ({str(s.get('containerID'))[:22]})")
    return ", ".join(parts)


def _waiting_reasons(status: Object) -> str | None:
    reasons = []
    for s in status.get("containerStatuses") or []:
        waiting = (s.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reasons.append(f"{s.get('name')}: {waiting['reason']}")
    return ", ".join(reasons) or None


def pod_steps(pod: Object) -> list[Step]:
    """Steps read from the pod itself: bound, containers created, Running with IP, Ready."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    steps: list[Step] = []
    scheduled = meta.get_condition(pod, "PodScheduled")
    node = spec.get("nodeName")
    if node:
        when = times.parse_time((scheduled or {}).get("lastTransitionTime"))
        steps.append(Step("scheduled", "scheduled", f"bound to node {node}", when))
    elif scheduled and scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "Unschedulable"
        message = scheduled.get("message") or ""
        steps.append(
            Step(
                f"unschedulable/{message}",
                "not schedulable",
                f"{reason}: {message}".strip(),
                times.parse_time(scheduled.get("lastTransitionTime")),
            )
        )
    waiting = _waiting_reasons(status)
    if waiting:
        steps.append(Step(f"waiting/{waiting}", "waiting", waiting))
    created = _containers_created(status)
    if created:
        steps.append(Step("containers", "containers created", created))
    phase = status.get("phase")
    if phase == "Running" and status.get("podIP"):
        when = times.parse_time(status.get("startTime"))
        steps.append(Step("running", "running", f"phase Running, pod IP {status['podIP']}", when))
    ready = meta.get_condition(pod, "Ready")
    if ready and ready.get("status") == "True":
        steps.append(
            Step(
                "ready",
                "ready",
                "all containers ready",
                times.parse_time(ready.get("lastTransitionTime")),
            )
        )
    if phase in ("Succeeded", "Failed"):
        reason = status.get("reason") or status.get("message") or ""
        steps.append(Step(f"phase/{phase}", phase.lower(), f"phase {phase} {reason}".strip()))
    if meta.is_deleting(pod):
        steps.append(Step("deleting", "deleting", "deletion requested"))
    return steps


def done(pod: Object) -> bool:
    """The flow is complete: Running with an IP (and Ready), or finished."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return True
    ready = meta.get_condition(pod, "Ready")
    return (
        phase == "Running"
        and bool(status.get("podIP"))
        and bool(ready and ready.get("status") == "True")
    )


def waiting_for(pod: Object) -> str:
    """What the flow waits for next, and who would do it."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    if not spec.get("nodeName"):
        return "the scheduler to bind the pod to a node (is the scheduler running?)"
    node = spec["nodeName"]
    if not status.get("containerStatuses"):
        return f"the kubelet on {node} to create the pod's containers (is it running?)"
    if status.get("phase") != "Running" or not status.get("podIP"):
        reasons = _waiting_reasons(status)
        return f"the pod to be Running with an IP on {node}" + (f" ({reasons})" if reasons else "")
    return "the pod's containers to be ready"


def steps(pod: Object, events: list[Object]) -> list[Step]:
    """Every step so far: the pod's own, and its Events."""
    return pod_steps(pod) + event_steps(pod, events)


def admission_steps(pod: Object) -> list[Step]:
    """The first steps of an existing pod, read from its metadata: the apiserver accepted it
    (authenticated, authorized, admitted, validated) and wrote it to etcd."""
    md = pod.get("metadata") or {}
    namespace, name = md.get("namespace", ""), md.get("name", "")
    created = times.parse_time(md.get("creationTimestamp"))
    return [
        Step(
            "accepted",
            "accepted by apiserver",
            f"POST /api/v1/namespaces/{namespace}/pods: validated and admitted, uid "
            f"{md.get('uid')}",
            created,
        ),
        Step("stored", "stored in etcd", f"key /registry/pods/{namespace}/{name}", created),
    ]
