"""`minikctl create -f FILE`, and the generators `create namespace NAME` and
`create deployment NAME --image=IMG [--replicas N] [--port P]`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from minik8s.cli.minikctl import apply, errors, manifests, output, session, targets
from minik8s.client.api import ApiClient


def deployment_manifest(
    name: str, image: str, replicas: int = 1, port: int | None = None
) -> dict[str, Any]:
    """The Deployment `kubectl create deployment` generates."""
    container: dict[str, Any] = {"name": image.split("/")[-1].split(":")[0].split("@")[0],
                                 "image": image, "resources": {}}  # fmt: skip
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    labels = {"app": name}
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            "strategy": {},
        },
        "status": {},
    }


def generated(args: list[str], image: str | None, replicas: int, port: int | None) -> dict:
    kind, name = [*args, "", ""][:2]
    if not name:
        raise errors.CliError(f"exactly one NAME is required, got {len(args) - 1}")
    if kind in ("namespace", "ns"):
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if kind in ("deployment", "deploy"):
        if not image:
            raise errors.CliError('required flag(s) "image" not set')
        return deployment_manifest(name, image, replicas, port)
    raise errors.CliError(
        f"unknown generator {kind!r}: use `create -f FILE`, `create namespace NAME` or "
        "`create deployment NAME --image=IMG`"
    )


def register(app: typer.Typer) -> None:
    @app.command("create", help="Create objects from files, or a namespace or deployment.")
    def create(
        ctx: typer.Context,
        args: Annotated[
            list[str] | None, typer.Argument(help="namespace NAME | deployment NAME")
        ] = None,
        filenames: Annotated[
            list[str] | None, typer.Option("--filename", "-f", help="File, directory or -")
        ] = None,
        image: Annotated[str | None, typer.Option("--image", help="(deployment)")] = None,
        replicas: Annotated[int, typer.Option("--replicas", "-r", help="(deployment)")] = 1,
        port: Annotated[int | None, typer.Option("--port", help="(deployment)")] = None,
        save_config: Annotated[
            bool, typer.Option("--save-config", help="Record the last-applied annotation")
        ] = False,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if filenames:
                loaded = manifests.load(filenames, verb="create")
            elif args:
                loaded = [manifests.Manifest(generated(args, image, replicas, port), "flags")]
            else:
                raise errors.CliError("must specify one of -f and -k")
            for manifest in loaded:
                targets.resource_for(manifest.obj)

        async def go(client: ApiClient) -> None:
            async def one(manifest: manifests.Manifest) -> None:
                rt = targets.resource_for(manifest.obj)
                obj = apply.with_last_applied(manifest.obj)[0] if save_config else manifest.obj
                ns = apply.namespace_of(manifest, s.namespace_flag, s.config.namespace)
                await client.create(rt, obj, ns if rt.namespaced else None)
                output.echo(f"{targets.ref(rt, manifest.name)} created")

            await errors.report_each(loaded, one)

        s.run(go)
