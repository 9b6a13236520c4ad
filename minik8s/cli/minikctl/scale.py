"""`minikctl scale deploy/NAME --replicas N`: a merge patch of the `scale` subresource."""

from __future__ import annotations

from typing import Annotated

import typer

from minik8s.cli.minikctl import errors, output, session, targets
from minik8s.client.api import ApiClient


def register(app: typer.Typer) -> None:
    @app.command("scale", help="Set the replicas of a deployment or replica set.")
    def scale(
        ctx: typer.Context,
        args: Annotated[list[str], typer.Argument(help="TYPE NAME | TYPE/NAME")],
        replicas: Annotated[int, typer.Option("--replicas", help="The new number of replicas")],
        current_replicas: Annotated[
            int | None,
            typer.Option("--current-replicas", help="Precondition: the current replicas"),
        ] = None,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if replicas < 0:
                raise errors.CliError("The --replicas=COUNT flag is required, and COUNT must be "
                                      "greater than or equal to 0")  # fmt: skip
            wanted = targets.parse(args)
            for t in wanted:
                if t.name is None:
                    raise errors.CliError("resource(s) were provided, but no name was specified")
                if "scale" not in t.rt.subresources:
                    raise errors.CliError(f"cannot scale {t.rt.plural}: no scale subresource")

        async def go(client: ApiClient) -> None:
            for t in wanted:
                assert t.name is not None
                ns = s.namespace if t.rt.namespaced else None
                if current_replicas is not None:
                    current = await client.get_subresource(t.rt, t.name, "scale", ns)
                    have = (current.get("spec") or {}).get("replicas", 0)
                    if have != current_replicas:
                        raise errors.CliError(
                            f"Expected replicas to be {current_replicas}, was {have}"
                        )
                await client.patch(
                    t.rt, t.name, {"spec": {"replicas": replicas}}, namespace=ns,
                    subresource="scale",
                )  # fmt: skip
                output.echo(f"{targets.ref(t.rt, t.name)} scaled")

        s.run(go)
