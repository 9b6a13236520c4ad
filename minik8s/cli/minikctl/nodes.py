"""`minikctl cordon|uncordon|drain NODE`: mark a node (un)schedulable; drain also evicts its
pods (those without a controller only with `--force`) through the Eviction API, retrying
every 5 s while a PodDisruptionBudget forbids it (as kubectl drain), and waits until they are
gone. `--disable-eviction` deletes them instead."""

from __future__ import annotations

import asyncio
import time
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


EVICTION_RETRY = 5.0
"""Seconds between two eviction attempts a disruption budget refused (kubectl's)."""


async def evict(client: ApiClient, pod: dict, grace_period: int) -> None:
    """POST the pod's `eviction` subresource (a policy/v1 Eviction)."""
    meta = pod["metadata"]
    body: dict = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if grace_period >= 0:
        body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
    await client.request(
        "POST", PODS.object_path(meta["namespace"], meta["name"]) + "/eviction", json=body
    )


async def evict_all(
    client: ApiClient, pods: list[dict], grace_period: int, use_eviction: bool, deadline: float
) -> list[dict]:
    """Evict (or delete) each pod, retrying those a budget protects until `deadline`; the
    pods whose eviction was accepted."""
    pending, done = list(pods), []
    while pending:
        refused = []
        for pod in pending:
            meta = pod["metadata"]
            output.echo(f"evicting pod {meta['namespace']}/{meta['name']}")
            try:
                if use_eviction:
                    await evict(client, pod, grace_period)
                else:
                    await client.delete(
                        PODS,
                        meta["name"],
                        meta["namespace"],
                        grace_period_seconds=None if grace_period < 0 else grace_period,
                    )
            except api_errors.NotFound:
                continue
            except api_errors.TooManyRequests as e:
                output.echo(
                    f'error when evicting pods/"{meta["name"]}" -n "{meta["namespace"]}"'
                    f" (will retry after {EVICTION_RETRY:g}s): {e.message}"
                )
                refused.append(pod)
                continue
            done.append(pod)
        pending = refused
        if pending:
            if time.monotonic() + EVICTION_RETRY > deadline:
                names = ", ".join(f"pods/{p['metadata']['name']}" for p in pending)
                raise errors.CliError(
                    f"drain did not complete within the timeout: {names} "
                    "could not be evicted (a PodDisruptionBudget forbids it)"
                )
            await asyncio.sleep(EVICTION_RETRY)
    return done


def register(app: typer.Typer) -> None:
    @app.command("cordon", help="Mark a node unschedulable.")
    def cordon(ctx: typer.Context, node: str) -> None:
        session.of(ctx).run(lambda c: _echo(set_unschedulable(c, node, True)))

    @app.command("uncordon", help="Mark a node schedulable.")
    def uncordon(ctx: typer.Context, node: str) -> None:
        session.of(ctx).run(lambda c: _echo(set_unschedulable(c, node, False)))

    @app.command("drain", help="Cordon a node and evict its pods, waiting until they are gone.")
    def drain(
        ctx: typer.Context,
        node: str,
        force: Annotated[
            bool, typer.Option("--force", help="Also delete pods no controller recreates")
        ] = False,
        ignore_daemonsets: Annotated[bool, typer.Option("--ignore-daemonsets")] = False,
        disable_eviction: Annotated[
            bool, typer.Option("--disable-eviction", help="Delete pods, bypassing budgets")
        ] = False,
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
            deadline = time.monotonic() + timeout
            evicted = await evict_all(client, evict, grace_period, not disable_eviction, deadline)
            gone: list[tuple[ResourceType, str, str | None, str]] = [
                (PODS, p["metadata"]["name"], p["metadata"]["namespace"], p["metadata"]["uid"])
                for p in evicted
            ]
            left = await delete.wait_gone(client, gone, max(1.0, deadline - time.monotonic()))
            for _, name, _, _ in gone:
                if f"pods/{name}" not in left:
                    output.echo(f"pod/{name} evicted")
            if left:
                raise errors.CliError(
                    f"drain did not complete within {timeout:g}s: "
                    f"{', '.join(left)} still terminating"
                )
            output.echo(f"node/{node} drained")

        s.run(go)
        _ = ignore_daemonsets  # there are no DaemonSets in minik8s


async def _echo(line: Awaitable[str]) -> None:
    output.echo(await line)
