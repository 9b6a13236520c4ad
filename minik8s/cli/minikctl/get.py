"""`minikctl get`: server-side Tables printed with kubectl's columns, or objects as
yaml/json/name/jsonpath; `-w` keeps printing rows as the objects change."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from minik8s.api import errors as api_errors
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import errors, output, session, targets
from minik8s.cli.minikctl.output import TableView
from minik8s.client.api import ApiClient

OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", help="Output format: wide|yaml|json|name|jsonpath=TEMPLATE"),
]


async def fetch_table(
    client: ApiClient,
    rt: ResourceType,
    namespace: str | None,
    name: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> dict:
    """The server's Table of one object or of a collection."""
    path = rt.object_path(namespace, name) if name else rt.collection_path(namespace)
    params = {"labelSelector": label_selector, "fieldSelector": field_selector}
    accept = {"Accept": output.TABLE_ACCEPT}
    table = await client.request("GET", path, params=params, headers=accept)
    if not isinstance(table, dict) or table.get("kind") != "Table":
        raise errors.CliError(f"the server did not answer a Table for {rt.plural}")
    return table


def with_type(obj: dict, rt: ResourceType) -> dict:
    """List items come without apiVersion/kind; put them back (kubectl does)."""
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}


def register(app: typer.Typer) -> None:
    @app.command(
        "get",
        help="Display one or many resources (e.g. `get pods`, `get deploy web -o yaml`).",
    )
    def get(
        ctx: typer.Context,
        args: Annotated[list[str], typer.Argument(help="TYPE[,TYPE] [NAME...] | TYPE/NAME")],
        all_namespaces: Annotated[
            bool, typer.Option("--all-namespaces", "-A", help="List across all namespaces")
        ] = False,
        selector: Annotated[
            str | None, typer.Option("--selector", "-l", help="Label selector, e.g. app=web")
        ] = None,
        field_selector: Annotated[
            str | None, typer.Option("--field-selector", help="Field selector")
        ] = None,
        output_format: OutputOpt = None,
        watch: Annotated[
            bool, typer.Option("--watch", "-w", help="After listing, watch for changes")
        ] = False,
        show_labels: Annotated[
            bool, typer.Option("--show-labels", help="Show all labels as the last column")
        ] = False,
        label_columns: Annotated[
            list[str] | None,
            typer.Option("--label-columns", "-L", help="Label keys to show as columns"),
        ] = None,
        no_headers: Annotated[
            bool, typer.Option("--no-headers", help="Do not print headers")
        ] = False,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            out = output.parse_output(output_format)
            wanted = targets.parse(args)
        if watch and len(wanted) != 1:
            with errors.handled():
                raise errors.CliError("you may only specify a single resource type with --watch")
        view = TableView(
            wide=out.kind == "wide",
            with_namespace=all_namespaces,
            with_kind=None,
            show_labels=show_labels,
            label_columns=[c for cols in (label_columns or []) for c in cols.split(",") if c],
        )
        kinds = {t.rt for t in wanted}
        if len(kinds) > 1 or (args and args[0].lower() == "all") or "/" in args[0]:
            view.with_kind = wanted[0].rt  # re-set per type below

        async def go(client: ApiClient) -> None:
            namespace = None if all_namespaces else s.namespace
            if out.tabular:
                await _print_tables(client, wanted, namespace, view, no_headers,
                                    selector, field_selector, watch, s.namespace,
                                    all_namespaces)  # fmt: skip
            else:
                await _print_objects(client, wanted, namespace, out, selector, field_selector)

        s.run(go)


async def _print_tables(
    client: ApiClient,
    wanted: list[targets.Target],
    namespace: str | None,
    view: TableView,
    no_headers: bool,
    selector: str | None,
    field_selector: str | None,
    watch: bool,
    default_namespace: str,
    all_namespaces: bool,
) -> None:
    failed = False
    printed_any = False
    by_type: dict[ResourceType, list[dict]] = {}
    for target in wanted:
        rt = target.rt
        ns = namespace if rt.namespaced else None
        try:
            table = await fetch_table(
                client, rt, ns if ns is not None or not target.name else default_namespace,
                target.name, label_selector=selector, field_selector=field_selector,
            )  # fmt: skip
        except api_errors.NotFound as e:
            errors.report(e)
            failed = True
            continue
        by_type.setdefault(rt, []).append(table)
    watch_widths: list[int] = []
    watch_table: dict | None = None
    for rt, tables in by_type.items():
        merged = {**tables[0], "rows": [row for t in tables for row in t.get("rows") or []]}
        if not merged["rows"]:
            continue
        if view.with_kind is not None:
            view.with_kind = rt
        view.with_namespace = all_namespaces and rt.namespaced
        if printed_any:
            output.echo()
        watch_widths = output.print_table(merged, view, no_headers=no_headers)
        watch_table = merged
        printed_any = True
    if not printed_any and not failed and not watch:
        namespaced = any(t.rt.namespaced for t in wanted)
        where = "" if namespace is None or not namespaced else f" in {namespace} namespace"
        output.echo(f"No resources found{where}.", err=True)
    if watch:
        target = wanted[0]
        rv = (watch_table or next(iter(by_type.values()), [{}])[0]).get("metadata", {})
        await _watch_rows(client, target, namespace, view, watch_widths, rv.get("resourceVersion"),
                          selector, field_selector)  # fmt: skip
    if failed:
        raise errors.Failed()


async def _watch_rows(
    client: ApiClient,
    target: targets.Target,
    namespace: str | None,
    view: TableView,
    widths: list[int],
    resource_version: str | None,
    selector: str | None,
    field_selector: str | None,
) -> None:
    """Print one row per change, as `kubectl get -w` does, until interrupted."""
    rt = target.rt
    fields = field_selector
    if target.name:
        by_name = f"metadata.name={target.name}"
        fields = f"{fields},{by_name}" if fields else by_name
    stream = client.watch(
        rt, namespace if rt.namespaced else None, resource_version=resource_version,
        label_selector=selector, field_selector=fields, allow_bookmarks=False,
        headers={"Accept": output.TABLE_ACCEPT},
    )  # fmt: skip
    async with stream:
        async for event in stream:
            table: Any = event.object
            if not isinstance(table, dict) or table.get("kind") != "Table":
                continue
            rows = view.rows(table)
            if not widths:
                widths = [0] * max((len(r) for r in rows), default=0)
                for line in output.align([view.header(table)], widths):
                    output.echo(line)
            for line in output.align(rows, widths):
                output.echo(line)


async def _print_objects(
    client: ApiClient,
    wanted: list[targets.Target],
    namespace: str | None,
    out: output.Output,
    selector: str | None,
    field_selector: str | None,
) -> None:
    objects: list[dict] = []
    failed = False
    for target in wanted:
        rt = target.rt
        if target.name:
            try:
                objects.append(with_type(await client.get(rt, target.name, namespace), rt))
            except api_errors.NotFound as e:
                errors.report(e)
                failed = True
            continue
        listed = await client.list_all(
            rt, namespace if rt.namespaced else None,
            label_selector=selector, field_selector=field_selector,
        )  # fmt: skip
        objects.extend(with_type(item, rt) for item in listed.get("items") or [])
    single = len(wanted) == 1 and wanted[0].name is not None
    if objects or not failed:
        output.print_objects(objects, out, single=single)
    if failed:
        raise errors.Failed()
