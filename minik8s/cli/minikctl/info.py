"""`minikctl cluster-info`, `api-resources` (from the server's discovery) and `version`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

import minik8s
from minik8s.cli.minikctl import errors, output, session
from minik8s.cli.minikctl.tabwriter import tabwrite
from minik8s.client.api import ApiClient


async def discovered(client: ApiClient) -> list[tuple[str, dict[str, Any]]]:
    """(groupVersion, APIResource) of every top-level resource the server serves."""
    versions = ["v1"]
    groups = await client.request("GET", "/apis")
    for group in (groups or {}).get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if preferred:
            versions.append(preferred)
    found = []
    for gv in versions:
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        listing = await client.request("GET", path)
        for r in (listing or {}).get("resources") or []:
            if "/" not in r.get("name", ""):
                found.append((gv, r))
    return found


def resource_lines(found: list[tuple[str, dict[str, Any]]], wide: bool) -> list[str]:
    header = "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND"
    lines = [header + ("\tVERBS\tCATEGORIES" if wide else "")]

    def order(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        gv, r = item
        return (gv.split("/")[0] if "/" in gv else "", str(r.get("name", "")))

    for gv, r in sorted(found, key=order):
        line = (
            f"{r.get('name')}\t{','.join(r.get('shortNames') or [])}\t{gv}\t"
            f"{'true' if r.get('namespaced') else 'false'}\t{r.get('kind')}"
        )
        if wide:
            line += f"\t{','.join(r.get('verbs') or [])}\t{','.join(r.get('categories') or [])}"
        lines.append(line)
    return tabwrite(lines, padding=3, min_width=6)


def register(app: typer.Typer) -> None:
    @app.command("cluster-info", help="Show where the control plane runs.")
    def cluster_info(ctx: typer.Context) -> None:
        s = session.of(ctx)

        async def go(client: ApiClient) -> None:
            await client.request("GET", "/version")
            output.echo(f"Kubernetes control plane is running at {client.server}")
            output.echo(
                "\nTo further debug and diagnose cluster problems, use 'minik8s status' and "
                "'minik8s logs <component>'."
            )

        s.run(go)

    @app.command("api-resources", help="List the resource types the server serves.")
    def api_resources(
        ctx: typer.Context,
        output_format: Annotated[str | None, typer.Option("--output", "-o")] = None,
        namespaced: Annotated[bool | None, typer.Option("--namespaced")] = None,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            if output_format not in (None, "wide", "name"):
                raise errors.CliError(f"--output {output_format} is not available: wide or name")

        async def go(client: ApiClient) -> None:
            found = await discovered(client)
            if namespaced is not None:
                found = [(gv, r) for gv, r in found if bool(r.get("namespaced")) == namespaced]
            if output_format == "name":
                for gv, r in sorted(found, key=lambda i: i[1].get("name", "")):
                    group = gv.split("/")[0] if "/" in gv else ""
                    output.echo(f"{r.get('name')}.{group}" if group else str(r.get("name")))
                return
            for line in resource_lines(found, output_format == "wide"):
                output.echo(line)

        s.run(go)

    @app.command("version", help="Print the client and server versions.")
    def version(
        ctx: typer.Context,
        client_only: Annotated[bool, typer.Option("--client", help="Client version only")] = False,
    ) -> None:
        output.echo(f"Client Version: minikctl {minik8s.__version__}")
        if client_only:
            return
        s = session.of(ctx)

        async def go(client: ApiClient) -> None:
            info = await client.request("GET", "/version")
            output.echo(f"Server Version: {(info or {}).get('gitVersion', 'unknown')}")

        s.run(go)
