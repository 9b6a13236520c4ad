"""`minikctl describe TYPE NAME`: kubectl's describe layout for pods, deployments, replica sets,
services, nodes, namespaces and endpoints (a generic one for other kinds), with the object's
Events fetched by `involvedObject` field selectors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from minik8s.api import errors as api_errors
from minik8s.api import resources, times
from minik8s.api.meta import Object
from minik8s.api.resources import EVENTS, ResourceType
from minik8s.cli.minikctl import describers, errors, output, session, targets
from minik8s.cli.minikctl.tabwriter import tabwrite
from minik8s.client.api import ApiClient


def event_lines(events: list[Object], now: datetime) -> list[str]:
    """The `Events:` section, as kubectl prints it."""
    if not events:
        return ["Events:\t<none>"]
    lines = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]

    def when(e: Object) -> datetime:
        return (
            times.parse_time(e.get("lastTimestamp") or e.get("eventTime"))
            or times.parse_time((e.get("metadata") or {}).get("creationTimestamp"))
            or times.EPOCH
        )

    for event in sorted(events, key=when):
        last = when(event)
        first = times.parse_time(event.get("firstTimestamp")) or last
        count = int(event.get("count") or 1)
        age = times.human_duration(now - last)
        if count > 1:
            age = f"{age} (x{count} over {times.human_duration(now - first)})"
        source = event.get("source") or {}
        origin = source.get("component") or event.get("reportingComponent") or ""
        message = " ".join(str(event.get("message") or "").split())
        lines.append(
            f"  {event.get('type', '')}\t{event.get('reason', '')}\t{age}\t{origin}\t{message}"
        )
    return lines


async def fetch_events(client: ApiClient, obj: Object, kind: str) -> list[Object]:
    meta = obj.get("metadata") or {}
    selector = [f"involvedObject.name={meta.get('name')}", f"involvedObject.kind={kind}"]
    if meta.get("namespace"):
        selector.append(f"involvedObject.namespace={meta['namespace']}")
    if meta.get("uid"):
        selector.append(f"involvedObject.uid={meta['uid']}")
    namespace = meta.get("namespace") or None
    listed = await client.list(EVENTS, namespace, field_selector=",".join(selector))
    return list(listed.get("items") or [])


async def describe_one(
    client: ApiClient, rt: ResourceType, name: str, namespace: str | None, show_events: bool
) -> str:
    obj = await client.get(rt, name, namespace)
    extras = await describers.related(client, rt, obj)
    lines = describers.describe(rt, obj, extras)
    if show_events and rt not in (resources.NAMESPACES, resources.SECRETS):
        lines.extend(event_lines(await fetch_events(client, obj, rt.kind), times.utc_now()))
    return "\n".join(tabwrite(lines, padding=2))


def register(app: typer.Typer) -> None:
    @app.command("describe", help="Show details of objects, with their Events.")
    def describe(
        ctx: typer.Context,
        args: Annotated[list[str], typer.Argument(help="TYPE [NAME...] | TYPE/NAME")],
        selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
        show_events: Annotated[
            bool, typer.Option("--show-events/--no-show-events", help="Show Events")
        ] = True,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            wanted = targets.parse(args)

        async def go(client: ApiClient) -> None:
            failed = False
            texts = []
            for target in wanted:
                rt = target.rt
                ns = s.namespace if rt.namespaced else None
                names = [target.name] if target.name else [
                    i["metadata"]["name"]
                    for i in (await client.list_all(rt, ns, label_selector=selector))["items"]
                ]  # fmt: skip
                for name in names:
                    try:
                        texts.append(await describe_one(client, rt, name, ns, show_events))
                    except api_errors.NotFound as e:
                        errors.report(e)
                        failed = True
            if texts:
                output.echo("\n\n\n".join(texts))
            elif not failed:
                output.echo(f"No resources found in {s.namespace} namespace.", err=True)
            if failed:
                raise errors.Failed()

        s.run(go)
