"""`minikctl cordon|uncordon|drain NODE`: mark a node (un)schedulable; drain also deletes its
pods (those without a controller only with `--force`) and waits until they are gone."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

import typer

from minik8s.api import errors as api_errors
from minik8s.api import meta, podutil
from minik8s.api.resources import NODES, PODS, ResourceType
from minik8s.cli.minikctl import delete, errors, output, session
from minik8s.client.api import ApiClient


async def set_unschedulable(client: ApiClient, node: str, value: bool) -> str:
    current = await client.get(NODES, node)
    word = "cordoned" if value else "uncordoned"
    if bool((current.get("spec") or {}).get("unschedulable")) == value:
        return f"node/{node} already {word}"
    await client.patch(NODES, node, {"spec": {"unschedulable": value or None}})
    return f"node/{node} {word}"


def drain_plan(pods: list[dict], force: bool) -> tuple[list[dict], list[str]]:
    """(pods to delete, names that block the drain): finished pods are skipped; a pod with no
    controller blocks unless `force`; mirror pods are left alone."""
    evict, blocked = [], []
    for pod in pods:
        if "kubernetes.io/config.mirror" in meta.annotations_of(pod):
            continue
        if podutil.is_terminal(pod):
            evict.append(pod)
            continue
        if meta.controller_ref(pod) is None and not force:
            blocked.append(meta.ns_name(pod))
            continue
        evict.append(pod)
    return evict, blocked


def register(app: typer.Typer) -> None:
    @app.command("cordon", help="Mark a node unschedulable.")
    def cordon(ctx: typer.Context, node: str) -> None:
        session.of(ctx).run(lambda c: _echo(set_unschedulable(c, node, True)))

    @app.command("uncordon", help="Mark a node schedulable.")
    def uncordon(ctx: typer.Context, node: str) -> None:
        session.of(ctx).run(lambda c: _echo(set_unschedulable(c, node, False)))

    @app.command("drain", help="Cordon a node and delete its pods, waiting until they are gone.")
    def drain(
        ctx: typer.Context,
        node: str,
        force: Annotated[
            bool, typer.Option("--force", help="Also delete pods no controller recreates")
        ] = False,
        ignore_daemonsets: Annotated[bool, typer.Option("--ignore-daemonsets")] = False,
        grace_period: Annotated[int, typer.Option("--grace-period")] = -1,
        timeout: Annotated[
            float, typer.Option("--timeout", parser=errors.duration, help="Seconds to wait")
        ] = 120.0,
    ) -> None:
        s = session.of(ctx)

        async def go(client: ApiClient) -> None:
            output.echo(await set_unschedulable(client, node, True))
            listed = await client.list_all(PODS, None, field_selector=f"spec.nodeName={node}")
            evict, blocked = drain_plan(listed.get("items") or [], force)
            if blocked:
                raise errors.CliError(
                    f'unable to drain node "{node}" due to error: cannot delete Pods that '
                    f"declare no controller (use --force to override): {', '.join(blocked)}"
                )
            gone: list[tuple[ResourceType, str, str | None, str]] = []
            for pod in evict:
                md = pod["metadata"]
                output.echo(f"evicting pod {md['namespace']}/{md['name']}")
                try:
                    await client.delete(
                        PODS, md["name"], md["namespace"],
                        grace_period_seconds=None if grace_period < 0 else grace_period,
                    )  # fmt: skip
                except api_errors.NotFound:
                    continue
                gone.append((PODS, md["name"], md["namespace"], md.get("uid", "")))
            left = await delete.wait_gone(client, gone, timeout)
            for _, name, _, _ in gone:
                if f"pods/{name}" not in left:
                    output.echo(f"pod/{name} evicted")
            if left:
                raise errors.CliError(f"drain did not complete within {timeout:g}s: "
                                      f"{', '.join(left)} still terminating")  # fmt: skip
            output.echo(f"node/{node} drained")

        s.run(go)
        _ = ignore_daemonsets  # there are no DaemonSets in minik8s


async def _echo(line: Awaitable[str]) -> None:
    output.echo(await line)
