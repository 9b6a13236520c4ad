"""`minikctl rollout status|restart|undo|history deploy/NAME` (and `ds/NAME`, `sts/NAME`:
`rollout_sets`).

`status` reads a Deployment's status as `kubectl rollout status` does (`deployment_status`,
pure) and shows a progress bar of updated/available replicas while it waits; `restart` sets
the `kubectl.kubernetes.io/restartedAt` template annotation; `undo` copies a previous
ReplicaSet's template back; `history` lists revisions from the ReplicaSets."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from minik8s.api import meta, rollback
from minik8s.api.meta import Object
from minik8s.api.resources import DAEMONSETS, DEPLOYMENTS, REPLICASETS, STATEFULSETS, ResourceType
from minik8s.cli.minikctl import errors, output, rollout_sets, session, targets
from minik8s.cli.minikctl.tabwriter import tabwrite
from minik8s.client.api import ApiClient

REVISION = rollback.REVISION
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POLL_INTERVAL = 0.5
Args = Annotated[list[str], typer.Argument(help="TYPE/NAME | TYPE NAME (deploy, ds, sts)")]
ROLLABLE = (DEPLOYMENTS, DAEMONSETS, STATEFULSETS)


class RolloutFailed(errors.CliError):
    pass


def deployment_status(deploy: Object) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done); raises when the deadline passed."""
    name = deploy["metadata"]["name"]
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    generation = deploy["metadata"].get("generation", 0)
    if generation > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    progressing = meta.get_condition(deploy, "Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return f"{prefix}{updated} out of {replicas} new replicas have been updated...", False
    if total > updated:
        return f"{prefix}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{prefix}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


async def wait_rollout(
    client: ApiClient, name: str, ns: str, timeout: float, watch: bool,
    rt: ResourceType = DEPLOYMENTS,
) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout if timeout > 0 else None
    console = Console(stderr=False)
    live = console.is_terminal and sys.stdout.isatty()
    last = ""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=True,
    )  # fmt: skip
    task = progress.add_task("rolling out", total=1)
    if live:
        progress.start()
    try:
        while True:
            deploy = await client.get(rt, name, ns)
            if rt is not DEPLOYMENTS:
                message, done = rollout_sets.status_of(rt, deploy)
            else:
                message, done = deployment_status(deploy)
            status = deploy.get("status") or {}
            replicas = (deploy.get("spec") or {}).get("replicas", 1)
            if live and rt is DEPLOYMENTS:
                progress.update(
                    task, description=message, total=max(replicas, 1) * 2,
                    completed=min(status.get("updatedReplicas", 0), replicas)
                    + min(status.get("availableReplicas", 0), replicas),
                )  # fmt: skip
            if done or message != last:
                if live:
                    progress.console.print(message, highlight=False)
                else:
                    output.echo(message)
                last = message
            if done or not watch:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise RolloutFailed("timed out waiting for the condition")
            await asyncio.sleep(POLL_INTERVAL)
    finally:
        if live:
            progress.stop()


_revision = rollback.revision_of


async def owned_replicasets(client: ApiClient, deploy: Object) -> list[Object]:
    listed = await client.list_all(REPLICASETS, meta.namespace_of(deploy))
    uid = meta.uid_of(deploy)
    owned = [rs for rs in listed.get("items") or [] if meta.find_owner(rs, uid)]
    return sorted(owned, key=_revision)


undo_template = rollback.undo_template


def _rollable(args: list[str]) -> tuple[ResourceType, str]:
    target = targets.one(args)
    if target.rt not in ROLLABLE:
        raise errors.CliError(
            f"no rollout support for {target.rt.plural} (deployments, daemonsets, statefulsets)"
        )
    assert target.name is not None
    return target.rt, target.name


def register(app: typer.Typer) -> None:
    rollout = typer.Typer(help="Manage the rollout of a deployment.", no_args_is_help=True)
    app.add_typer(rollout, name="rollout")

    @rollout.command("status", help="Wait for the rollout to finish, showing its progress.")
    def status(
        ctx: typer.Context,
        args: Args,
        timeout: Annotated[
            float, typer.Option("--timeout", parser=errors.duration, help="Seconds; 0: no limit")
        ] = 0,
        watch: Annotated[bool, typer.Option("--watch/--no-watch", "-w")] = True,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            rt, name = _rollable(args)
        s.run(lambda client: wait_rollout(client, name, s.namespace, timeout, watch, rt))

    @rollout.command("restart", help="Restart the pods (new template annotation).")
    def restart(ctx: typer.Context, args: Args) -> None:
        s = session.of(ctx)
        with errors.handled():
            rt, name = _rollable(args)
        now = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}

        async def go(client: ApiClient) -> None:
            await client.patch(rt, name, patch, namespace=s.namespace,
                               patch_type="strategic")  # fmt: skip
            output.echo(f"{targets.ref(rt, name)} restarted")

        s.run(go)

    @rollout.command("undo", help="Roll back to the previous (or a given) revision.")
    def undo(
        ctx: typer.Context,
        args: Args,
        to_revision: Annotated[int, typer.Option("--to-revision")] = 0,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            rt, name = _rollable(args)

        async def go(client: ApiClient) -> None:
            if rt is not DEPLOYMENTS:
                owner = await client.get(rt, name, s.namespace)
                revision = rollout_sets.undo_revision(
                    await rollout_sets.revisions(client, owner), to_revision
                )
                await client.patch(rt, name, revision.get("data") or {}, namespace=s.namespace,
                                   patch_type="strategic")  # fmt: skip
                output.echo(f"{targets.ref(rt, name)} rolled back")
                return
            deploy = await client.get(DEPLOYMENTS, name, s.namespace)
            current = _revision(deploy)
            template = undo_template(await owned_replicasets(client, deploy), current, to_revision)
            if template is None:
                what = f"revision {to_revision}" if to_revision else "rollout history"
                raise errors.CliError(f'no {what} found for deployment "{name}"')
            patch = [{"op": "replace", "path": "/spec/template", "value": template}]
            await client.patch(DEPLOYMENTS, name, patch, namespace=s.namespace,
                               patch_type="json")  # fmt: skip
            output.echo(f"{targets.ref(DEPLOYMENTS, name)} rolled back")

        s.run(go)

    @rollout.command("history", help="List the revisions of a deployment.")
    def history(ctx: typer.Context, args: Args) -> None:
        s = session.of(ctx)
        with errors.handled():
            rt, name = _rollable(args)

        async def go(client: ApiClient) -> None:
            if rt is not DEPLOYMENTS:
                owned = await rollout_sets.revisions(
                    client, await client.get(rt, name, s.namespace)
                )
                output.echo(f"{targets.ref(rt, name)} ")
                for line in tabwrite(rollout_sets.history_lines(owned), padding=2, min_width=10):
                    output.echo(line)
                output.echo()
                return
            deploy = await client.get(DEPLOYMENTS, name, s.namespace)
            owned = await owned_replicasets(client, deploy)
            if not owned:
                output.echo(f"{targets.ref(DEPLOYMENTS, name)} \nNo rollout history found.")
                return
            lines = ["REVISION\tCHANGE-CAUSE"]
            for rs in owned:
                cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
                lines.append(f"{_revision(rs)}\t{cause or '<none>'}")
            output.echo(f"{targets.ref(DEPLOYMENTS, name)} ")
            for line in tabwrite(lines, padding=2, min_width=10):
                output.echo(line)
            output.echo()

        s.run(go)
