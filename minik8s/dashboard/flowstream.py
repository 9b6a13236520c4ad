"""The architecture view's streams.

`stream`: the cluster's boxes (its Nodes, from a watch) and every step as it happens — the
audit webhook's requests, etcd writes and watch deliveries (`FlowLog`), and the Events
components record (a kubelet starting a container, the scheduler binding a pod, a node's
kube-proxy syncing its rules: the count of its `SyncedProxyRules` Event bumped), from a
watch with the user's credential. The audit log shows every user's requests, so it is sent
only to users allowed to watch pods in every namespace (asked with a
SelfSubjectAccessReview); others see only what their own watches show.

`follow_pod`: one pod's seed flow, step by step (`minik8s.api.podflow`, the steps
`minikctl run --trace` prints), sent again in full whenever the pod or its Events change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from minik8s.api import errors, meta, podflow, resources
from minik8s.client.api import ApiClient
from minik8s.client.tasks import cancel_and_wait, spawn
from minik8s.dashboard import sse
from minik8s.dashboard.flowlog import FlowLog
from minik8s.dashboard.streams import StreamSettings, failure

KUBELET_REASONS = frozenset({"Pulling", "Pulled", "Created", "Started", "Killing", "BackOff"})
PROXY_SYNCED = "SyncedProxyRules"
"""The reason of the Event kube-proxy bumps on its Node after each rule sync
(`minik8s.proxy.server.SYNCED`; components share no imports, the API is the contract)."""

Item = tuple[str, Any]


def event_step(event: dict[str, Any]) -> dict[str, Any]:
    """An Event as a step: kubelets' container Events travel kubelet -> runtime."""
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or "?"
    host = source.get("host") or event.get("reportingInstance") or ""
    involved = event.get("involvedObject") or {}
    reason = str(event.get("reason") or "")
    step = {
        "kind": "event",
        "reason": reason,
        "type": event.get("type") or "Normal",
        "message": event.get("message") or "",
        "resource": str(involved.get("kind") or "").lower(),
        "namespace": involved.get("namespace") or "",
        "name": involved.get("name") or "",
        "src": component,
        "dst": "apiserver",
    }
    if component == "kubelet" and reason in KUBELET_REASONS:
        step.update(src=f"kubelet:{host}", dst=f"runtime:{host}")
    elif component == "kube-proxy" and reason == PROXY_SYNCED and host:
        step.update(src=f"proxy:{host}", dst=f"iptables:{host}", count=event.get("count") or 1)
    elif component == "default-scheduler" and reason == "Scheduled":
        step.update(src="scheduler", dst="apiserver")
    return step


async def _allowed_cluster_wide(client: ApiClient) -> bool:
    review = {"spec": {"resourceAttributes": {"verb": "watch", "resource": "pods"}}}
    try:
        answer = await client.create(resources.SELFSUBJECTACCESSREVIEWS, review)
    except errors.ApiError:
        return False
    return bool((answer.get("status") or {}).get("allowed"))


async def _watch_into(
    client: ApiClient,
    rt: resources.ResourceType,
    queue: asyncio.Queue[Item],
    settings: StreamSettings,
    namespace: str | None = None,
    field_selector: str | None = None,
) -> None:
    """List, then watch `rt` into `queue` as ("list", items) and (type, object), for ever."""
    rv: str | None = None
    delay = settings.backoff_initial
    while True:
        try:
            if rv is None:
                listed = await client.list(rt, namespace, field_selector=field_selector)
                rv = (listed.get("metadata") or {}).get("resourceVersion") or "0"
                await queue.put((f"list:{rt.plural}", listed.get("items") or []))
            watch = client.watch(
                rt, namespace, resource_version=rv, field_selector=field_selector,
                timeout_seconds=settings.watch_timeout,
            )  # fmt: skip
            delay = settings.backoff_initial
            async with watch:
                async for ev in watch:
                    rv = ev.resource_version or rv
                    if ev.type != "BOOKMARK":
                        await queue.put((f"{ev.type}:{rt.plural}", ev.object))
        except (errors.Gone, errors.Expired):
            rv = None
        except (errors.Unauthorized, errors.Forbidden) as e:
            await queue.put(("failure", e))
            return
        except errors.ApiError as e:
            await queue.put(("reconnecting", e.message))
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.backoff_max)


async def _audit_into(flow: FlowLog, queue: asyncio.Queue[Item]) -> None:
    cursor = flow.next_seq
    while True:
        await flow.wait(cursor, 30.0)
        entries, cursor, skipped = flow.since(cursor)
        if entries or skipped:
            await queue.put(("steps", (entries, skipped)))


def _node_box(node: dict[str, Any]) -> dict[str, Any]:
    return {"name": meta.name_of(node), "labels": meta.labels_of(node)}


async def stream(
    client: ApiClient, flow: FlowLog, settings: StreamSettings
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=10_000)
    audit = await _allowed_cluster_wide(client)
    yield sse.event("hello", {"audit": audit})
    tasks = [
        spawn(_watch_into(client, resources.NODES, queue, settings), "flow: nodes"),
        spawn(_watch_into(client, resources.EVENTS, queue, settings), "flow: events"),
    ]
    if audit:
        tasks.append(spawn(_audit_into(flow, queue), "flow: audit"))
    nodes: dict[str, dict[str, Any]] = {}
    events_listed = False
    try:
        while True:
            what, item = await queue.get()
            if what == "list:nodes":
                nodes = {meta.name_of(n): _node_box(n) for n in item}
                yield sse.event("nodes", sorted(nodes.values(), key=lambda n: n["name"]))
            elif what.endswith(":nodes"):
                if what.startswith("DELETED"):
                    nodes.pop(meta.name_of(item), None)
                elif meta.name_of(item) not in nodes:
                    nodes[meta.name_of(item)] = _node_box(item)
                else:
                    continue
                yield sse.event("nodes", sorted(nodes.values(), key=lambda n: n["name"]))
            elif what == "list:events":
                events_listed = True  # old Events are history, not steps happening now
            elif what.startswith("ADDED:events") or what.startswith("MODIFIED:events"):
                if events_listed:
                    yield sse.event("steps", {"entries": [event_step(item)], "skipped": 0})
            elif what == "steps":
                entries, skipped = item  # the flow log's entries are JSON already
                listed = orjson.Fragment(b"[" + b",".join(entries) + b"]")
                yield sse.event("steps", {"entries": listed, "skipped": skipped})
            elif what == "reconnecting":
                yield sse.event("status", {"state": "reconnecting", "message": item})
            elif what == "failure":
                yield failure(item)
    finally:
        await cancel_and_wait(tasks)


async def follow_pod(
    client: ApiClient, namespace: str, name: str, settings: StreamSettings
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=1000)
    involved = f"involvedObject.kind=Pod,involvedObject.namespace={namespace},"
    involved += f"involvedObject.name={name}"
    tasks = [
        spawn(
            _watch_into(
                client, resources.PODS, queue, settings, namespace, f"metadata.name={name}"
            ),
            f"podflow: pod {namespace}/{name}",
        ),
        spawn(
            _watch_into(client, resources.EVENTS, queue, settings, namespace, involved),
            f"podflow: events of {namespace}/{name}",
        ),
    ]
    pod: dict[str, Any] | None = None
    events: dict[str, dict[str, Any]] = {}
    try:
        while True:
            what, item = await queue.get()
            if what == "list:pods":
                pod = item[0] if item else None
            elif what.endswith(":pods"):
                pod = None if what.startswith("DELETED") else item
            elif what == "list:events":
                events = {meta.uid_of(e): e for e in item}
            elif what.endswith(":events"):
                events[meta.uid_of(item)] = item
            elif what == "failure":
                yield failure(item)
                return
            elif what == "reconnecting":
                yield sse.event("status", {"state": "reconnecting", "message": item})
                continue
            if pod is None:
                yield sse.event("podflow", {"exists": False, "steps": []})
                continue
            steps = podflow.admission_steps(pod) + podflow.steps(
                pod, [e for e in events.values() if
                      (e.get("involvedObject") or {}).get("uid") in (None, meta.uid_of(pod))]
            )  # fmt: skip
            yield sse.event("podflow", {
                "exists": True,
                "done": podflow.done(pod),
                "waitingFor": None if podflow.done(pod) else podflow.waiting_for(pod),
                "node": (pod.get("spec") or {}).get("nodeName"),
                "steps": [
                    {"key": s.key, "title": s.title, "detail": s.detail,
                     "when": s.when.isoformat() if s.when else None}
                    for s in sorted(steps, key=_step_order)
                ],
            })  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            await cancel_and_wait(tasks)


ORDER = {"accepted": 0, "stored": 1, "scheduled": 2, "containers": 4, "running": 5, "ready": 6}


def _step_order(step: podflow.Step) -> tuple[int, float]:
    """The seed flow's order: admission, binding, the kubelet's Events (by the time the API
    recorded), containers, Running, Ready, then anything else."""
    group = 3 if step.key.startswith("event/") else ORDER.get(step.key, 7)
    return (group, step.when.timestamp() if step.when else 0.0)
