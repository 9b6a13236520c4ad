"""`minikctl delete TYPE NAME… | TYPE/NAME | -f FILE | -l SEL | --all`: like kubectl, it waits
(`--wait`, default on) until each object is really gone — a pod with a node is only gone once
its kubelet confirmed the containers stopped."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from minik8s.api import errors as api_errors
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import apply, errors, manifests, output, session, targets
from minik8s.client.api import ApiClient

CASCADE = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}
POLL_INTERVAL = 0.2


def deleted_line(rt: ResourceType, name: str) -> str:
    return f'{targets.qualified(rt)} "{name}" deleted'


async def wait_gone(
    client: ApiClient, items: list[tuple[ResourceType, str, str | None, str]], timeout: float
) -> list[str]:
    """Poll until each (type, name, namespace, uid) is gone; the refs still there at timeout."""
    deadline = time.monotonic() + timeout
    pending = list(items)
    while pending:
        still = []
        for rt, name, ns, uid in pending:
            try:
                obj = await client.get(rt, name, ns)
            except api_errors.NotFound:
                continue
            if uid and (obj.get("metadata") or {}).get("uid") != uid:
                continue  # a new object of the same name: ours is gone
            still.append((rt, name, ns, uid))
        pending = still
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_INTERVAL)
    return [f"{rt.plural}/{name}" for rt, name, _, _ in pending]


def register(app: typer.Typer) -> None:
    @app.command("delete", help="Delete objects by type and name, file, selector or --all.")
    def delete(
        ctx: typer.Context,
        args: Annotated[
            list[str] | None, typer.Argument(help="TYPE NAME... | TYPE/NAME...")
        ] = None,
        filenames: Annotated[
            list[str] | None, typer.Option("--filename", "-f", help="File, directory or -")
        ] = None,
        selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
        all_objects: Annotated[bool, typer.Option("--all", help="Every object of TYPE")] = False,
        grace_period: Annotated[
            int, typer.Option("--grace-period", help="Seconds to stop; -1: the object's own")
        ] = -1,
        now: Annotated[bool, typer.Option("--now", help="Same as --grace-period=1")] = False,
        force: Annotated[
            bool, typer.Option("--force", help="With --grace-period=0: do not wait for kubelet")
        ] = False,
        wait: Annotated[
            bool, typer.Option("--wait/--no-wait", help="Wait until the objects are gone")
        ] = True,
        timeout: Annotated[
            float, typer.Option("--timeout", parser=errors.duration, help="Seconds --wait waits")
        ] = 60.0,
        cascade: Annotated[
            str, typer.Option("--cascade", help="background, foreground or orphan")
        ] = "background",
        ignore_not_found: Annotated[bool, typer.Option("--ignore-not-found")] = False,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if cascade not in CASCADE:
                raise errors.CliError(f'invalid cascade value ({cascade}): background, '
                                      'foreground or orphan')  # fmt: skip
            grace: int | None = None if grace_period < 0 else grace_period
            if now:
                grace = 1
            if force and grace is None:
                grace = 0
            from_files: list[tuple[ResourceType, str, str | None]] = []
            wanted: list[targets.Target] = []
            if filenames:
                for m in manifests.load(filenames, verb="delete"):
                    rt = targets.resource_for(m.obj)
                    ns = apply.namespace_of(m, s.namespace_flag, s.config.namespace)
                    from_files.append((rt, m.name, ns if rt.namespaced else None))
            elif args:
                wanted = targets.parse(args)
                if any(t.name is None for t in wanted) and not (selector or all_objects):
                    raise errors.CliError("resource(s) were provided, but no name was specified")
            else:
                raise errors.CliError(
                    "You must provide one or more resources by argument or filename."
                )

        async def go(client: ApiClient) -> None:
            items = list(from_files)
            for target in wanted:
                ns = s.namespace if target.rt.namespaced else None
                if target.name is not None:
                    items.append((target.rt, target.name, ns))
                    continue
                listed = await client.list_all(target.rt, ns, label_selector=selector)
                names = [i["metadata"]["name"] for i in listed.get("items") or []]
                items.extend((target.rt, name, ns) for name in names)
                if not names:
                    where = f" in {ns} namespace" if ns else ""
                    output.echo(f"No resources found{where}.", err=True)
            failed = False
            deleting: list[tuple[ResourceType, str, str | None, str]] = []
            for rt, name, ns in items:
                try:
                    result = await client.delete(
                        rt, name, ns, grace_period_seconds=grace,
                        propagation_policy=CASCADE[cascade],
                    )  # fmt: skip
                except api_errors.NotFound as e:
                    if not ignore_not_found:
                        errors.report(e)
                        failed = True
                    continue
                output.echo(deleted_line(rt, name))
                uid = str(((result or {}).get("metadata") or {}).get("uid") or "")
                if result.get("kind") != "Status":
                    deleting.append((rt, name, ns, uid))
            if wait and deleting and not (force and grace == 0):
                left = await wait_gone(client, deleting, timeout)
                if left:
                    raise errors.CliError(
                        f"timed out waiting for the condition on {', '.join(left)} "
                        "(still terminating: is its node's kubelet running?)"
                    )
            if failed:
                raise errors.Failed()

        s.run(go)
