"""Tracing the seed flow live: `minikctl run … --trace` and `minikctl trace pod NAME` print
each step as the API shows it (pod status, conditions, Events), with timestamps and the
time since the previous step; on `--timeout` they say what is still awaited."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from minik8s.api import errors as api_errors
from minik8s.api import podflow as flow
from minik8s.api import times
from minik8s.api.resources import EVENTS, PODS, ResourceType
from minik8s.cli.minikctl import errors, output, session
from minik8s.client.api import ApiClient


@dataclass
class Printer:
    """Prints steps as `HH:MM:SS.mmm  +elapsed  (+since previous)  title  detail`."""

    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    last: datetime | None = None
    seen: set[str] = field(default_factory=set)

    def step(self, title: str, detail: str, when: datetime | None = None, key: str = "") -> None:
        if key:
            if key in self.seen:
                return
            self.seen.add(key)
        now = datetime.now(UTC)
        moment = when if when is not None and when < now and when >= self.start else now
        moment = max(moment, self.last or moment)
        elapsed = (moment - self.start).total_seconds()
        delta = (moment - (self.last or self.start)).total_seconds()
        self.last = moment
        stamp = moment.astimezone().strftime("%H:%M:%S.%f")[:-3]
        output.echo(f"{stamp}  +{elapsed:7.3f}s  (+{delta:6.3f}s)  {title:<22} {detail}")

    def steps(self, steps: list[flow.Step]) -> None:
        for s in steps:
            self.step(s.title, s.detail, s.when, s.key)


def _events_selector(namespace: str, name: str) -> str:
    return (
        f"involvedObject.kind=Pod,involvedObject.namespace={namespace},involvedObject.name={name}"
    )


async def _pump(
    client: ApiClient,
    rt: ResourceType,
    namespace: str,
    field_selector: str,
    resource_version: str | None,
    queue: asyncio.Queue[tuple[ResourceType, Any]],
) -> None:
    """Forward watch events to `queue` for ever, resuming after timeouts and relisting on 410."""
    rv = resource_version
    while True:
        try:
            stream = client.watch(
                rt, namespace, resource_version=rv, field_selector=field_selector,
                timeout_seconds=60,
            )  # fmt: skip
            async with stream:
                async for event in stream:
                    rv = event.resource_version or rv
                    if event.type != "BOOKMARK":
                        await queue.put((rt, event))
        except api_errors.Expired:
            rv = None
        except Exception as e:  # handed to the main loop, which reports it in one line
            await queue.put((rt, e))
            return


async def follow(
    client: ApiClient,
    pod: dict,
    events: dict[str, dict],
    printer: Printer,
    timeout: float,
    resource_version: str | None,
) -> bool:
    """Print new steps until the flow is done (True) or `timeout` passes (False)."""
    meta = pod["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    printer.steps(flow.steps(pod, list(events.values())))
    if flow.done(pod):
        return True
    queue: asyncio.Queue[tuple[ResourceType, Any]] = asyncio.Queue()
    tasks = [
        asyncio.create_task(
            _pump(client, PODS, namespace, f"metadata.name={name}", resource_version, queue),
            name=f"trace-watch-pod-{name}",
        ),
        asyncio.create_task(
            _pump(
                client,
                EVENTS,
                namespace,
                _events_selector(namespace, name),
                resource_version,
                queue,
            ),
            name=f"trace-watch-events-{name}",
        ),
    ]
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                printer.step("timed out", f"after {timeout:g}s, still waiting for "
                             f"{flow.waiting_for(pod)}")  # fmt: skip
                return False
            try:
                rt, item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                continue
            if isinstance(item, Exception):
                raise item
            obj = item.object
            if rt is PODS:
                if item.type == "DELETED":
                    printer.step("deleted", f"pod {namespace}/{name} was deleted")
                    return False
                if (obj.get("metadata") or {}).get("uid") != meta.get("uid"):
                    continue
                pod = obj
            else:
                events[(obj.get("metadata") or {}).get("uid", "")] = obj
            printer.steps(flow.steps(pod, list(events.values())))
            if flow.done(pod):
                return True
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def list_events(client: ApiClient, namespace: str, name: str) -> tuple[dict[str, dict], str]:
    listed = await client.list(EVENTS, namespace, field_selector=_events_selector(namespace, name))
    items = {(e.get("metadata") or {}).get("uid", ""): e for e in listed.get("items") or []}
    return items, str((listed.get("metadata") or {}).get("resourceVersion") or "")


async def trace_existing(client: ApiClient, namespace: str, name: str, timeout: float) -> bool:
    """Replay what the API recorded about a pod, then follow it live."""
    pod = await client.get(PODS, name, namespace)
    events, rv = await list_events(client, namespace, name)
    meta = pod["metadata"]
    created = times.parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
    printer = Printer(start=created)
    printer.step("created", f"pod {namespace}/{name} uid {meta.get('uid')}", created, "created")
    ordered = sorted(
        flow.steps(pod, list(events.values())),
        key=lambda s: s.when or datetime.max.replace(tzinfo=UTC),
    )
    printer.steps(ordered)
    return await follow(client, pod, events, printer, timeout, rv or None)


def register(app: typer.Typer) -> None:
    trace_app = typer.Typer(help="Trace the seed flow of an object, step by step.")
    app.add_typer(trace_app, name="trace")

    @trace_app.command("pod", help="Show what happened to a pod so far, then follow it.")
    def trace_pod(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The pod")],
        timeout: Annotated[
            float,
            typer.Option(
                "--timeout", parser=errors.duration, help="Seconds to follow before giving up"
            ),
        ] = 60.0,
    ) -> None:
        s = session.of(ctx)

        async def go(client: ApiClient) -> bool:
            return await trace_existing(client, s.namespace, name, timeout)

        if not s.run(go):
            raise typer.Exit(1)
