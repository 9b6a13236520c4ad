"""`minikctl run NAME --image=IMG`: the Pod manifest `kubectl run` builds, POSTed; with
`--trace`, each step of the seed flow printed as the API shows it."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from minik8s.api.resources import PODS
from minik8s.cli.minikctl import errors, output, session, targets, trace
from minik8s.client.api import ApiClient

RESTART_POLICIES = ("Always", "OnFailure", "Never")


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """`k=v` items (also comma-separated for labels) as a dict; an error line if malformed."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise errors.CliError(f"invalid {what}: {value!r} (expected KEY=VALUE)")
        pairs[key] = val
    return pairs


def pod_manifest(
    name: str,
    image: str,
    *,
    port: int | None = None,
    env: list[str] | None = None,
    labels: str | None = None,
    restart: str = "Always",
    command: bool = False,
    args: list[str] | None = None,
    image_pull_policy: str | None = None,
) -> dict[str, Any]:
    """The Pod `kubectl run` generates (same fields, same defaults)."""
    if restart not in RESTART_POLICIES:
        raise errors.CliError(f"invalid restart policy: {restart}")
    label_map = parse_pairs([p for p in (labels or "").split(",") if p], "label")
    container: dict[str, Any] = {"name": name, "image": image}
    if args:
        container["command" if command else "args"] = list(args)
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in parse_pairs(env, "env").items()]
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    container["resources"] = {}
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": label_map or {"run": name}},
        "spec": {"containers": [container], "restartPolicy": restart, "dnsPolicy": "ClusterFirst"},
        "status": {},
    }


def summary(pod: dict[str, Any]) -> str:
    containers = pod["spec"]["containers"]
    parts = []
    for c in containers:
        ports = ",".join(str(p["containerPort"]) for p in c.get("ports") or [])
        parts.append(f"{c['name']}={c['image']}" + (f" port {ports}" if ports else ""))
    return f"Pod {pod['metadata']['name']}: " + "; ".join(parts)


async def run_traced(
    client: ApiClient, pod: dict[str, Any], namespace: str, timeout: float
) -> bool:
    printer = trace.Printer()
    printer.step("manifest generated", summary(pod))
    started = time.monotonic()
    created = await client.create(PODS, pod, namespace)
    meta = created["metadata"]
    rv = str(meta.get("resourceVersion"))
    took = (time.monotonic() - started) * 1000
    printer.step(
        "accepted by apiserver",
        f"POST {PODS.collection_path(namespace)} -> 201 Created in {took:.0f} ms; "
        f"uid {meta.get('uid')}, resourceVersion {rv}",
    )
    stored = await client.get(PODS, meta["name"], namespace)
    printer.step(
        "stored in etcd",
        f"key {PODS.storage_key(namespace, meta['name'])}, mod_revision "
        f"{stored['metadata'].get('resourceVersion')} (read back)",
    )
    events, _ = await trace.list_events(client, namespace, meta["name"])
    return await trace.follow(client, stored, events, printer, timeout, rv)


def register(app: typer.Typer) -> None:
    @app.command(
        "run",
        help="Create a pod running IMAGE (`run NAME --image=IMG [-- ARGS...]`).",
    )
    def run(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The pod's name")],
        args: Annotated[
            list[str] | None, typer.Argument(help="Arguments (or, with --command, the command)")
        ] = None,
        image: Annotated[str | None, typer.Option("--image", help="The container image")] = None,
        port: Annotated[int | None, typer.Option("--port", help="Container port")] = None,
        env: Annotated[
            list[str] | None, typer.Option("--env", help="Environment variable KEY=VALUE")
        ] = None,
        labels: Annotated[
            str | None, typer.Option("--labels", "-l", help="Labels k=v,k2=v2 (default run=NAME)")
        ] = None,
        restart: Annotated[
            str, typer.Option("--restart", help="Always, OnFailure or Never")
        ] = "Always",
        command: Annotated[
            bool, typer.Option("--command", help="ARGS after -- are the command, not args")
        ] = False,
        image_pull_policy: Annotated[
            str | None, typer.Option("--image-pull-policy", help="Always, IfNotPresent, Never")
        ] = None,
        dry_run: Annotated[str, typer.Option("--dry-run", help="none, client or server")] = "none",
        output_format: Annotated[
            str | None, typer.Option("--output", "-o", help="yaml|json|name|jsonpath=…")
        ] = None,
        trace_flow: Annotated[
            bool, typer.Option("--trace", help="Print each step of the flow as it happens")
        ] = False,
        timeout: Annotated[
            float,
            typer.Option(
                "--timeout", parser=errors.duration, help="Seconds --trace waits for Running"
            ),
        ] = 60.0,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if not image:
                raise errors.CliError('required flag(s) "image" not set')
            if dry_run not in ("none", "client", "server"):
                raise errors.CliError(
                    f'Invalid dry-run value ({dry_run}). Must be "none", "server", or "client".'
                )
            out = output.parse_output(output_format)
            pod = pod_manifest(
                name, image, port=port, env=env, labels=labels, restart=restart,
                command=command, args=args, image_pull_policy=image_pull_policy,
            )  # fmt: skip
            if dry_run == "client":
                _show(pod, out, "created (dry run)")
                return

        async def go(client: ApiClient) -> bool:
            if trace_flow:
                return await run_traced(client, pod, s.namespace, timeout)
            params = {"dryRun": "All"} if dry_run == "server" else None
            created = await client.request(
                "POST", PODS.collection_path(s.namespace), json=pod, params=params
            )
            suffix = "created (server dry run)" if dry_run == "server" else "created"
            _show(created, out, suffix)
            return True

        if not s.run(go):
            raise typer.Exit(1)


def _show(pod: dict[str, Any], out: output.Output, suffix: str) -> None:
    if out.kind in ("table", "wide"):
        output.echo(f"{targets.ref(PODS, pod['metadata']['name'])} {suffix}")
    else:
        output.print_objects([pod], out, single=True)
