"""`minikctl top nodes|pods`: resource usage from the metrics API (metrics.k8s.io), printed as
kubectl prints it (`CPU(cores)` in millicores, `MEMORY(bytes)` in Mi, node percentages of
allocatable or, with `--show-capacity`, of capacity).

The metrics API is served by minik8s-metrics-server through the aggregation layer; when
discovery does not list it, this is kubectl's "Metrics API not available".
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from minik8s.api import quantity
from minik8s.api.resources import NODES
from minik8s.cli.minikctl import errors, output, session, tabwriter
from minik8s.client.api import ApiClient

METRICS = "/apis/metrics.k8s.io/v1beta1"
NODE_COLUMNS = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
POD_COLUMNS = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
PADDING = 3
MIN_WIDTH = 6
"""kubectl's tab writer: cells at least 6 wide, 3 spaces of padding."""


def _cpu(usage: dict[str, Any]) -> int:
    return quantity.cpu_millis(usage.get("cpu", 0))


def _memory(usage: dict[str, Any]) -> int:
    return quantity.memory_bytes(usage.get("memory", 0))


def _cells(usage: tuple[int, int], available: dict[str, Any] | None) -> list[str]:
    cpu, memory = usage
    cells = [f"{cpu}m"]
    if available is not None:
        total = quantity.cpu_millis(available.get("cpu", 0))
        cells.append(f"{int(cpu / total * 100)}%" if total else "0%")
    cells.append(f"{memory // (1 << 20)}Mi")
    if available is not None:
        total = quantity.memory_bytes(available.get("memory", 0))
        cells.append(f"{int(memory / total * 100)}%" if total else "0%")
    return cells


def _sorted(rows: list[tuple[Any, tuple[int, int]]], sort_by: str | None) -> list[Any]:
    if sort_by == "cpu":
        return sorted(rows, key=lambda r: -r[1][0])
    if sort_by == "memory":
        return sorted(rows, key=lambda r: -r[1][1])
    return rows


def node_lines(
    metrics: list[dict], nodes: list[dict], *, capacity: bool = False,
    no_headers: bool = False, sort_by: str | None = None,
) -> list[str]:  # fmt: skip
    """kubectl's PrintNodeMetrics: a line per node with metrics, `<unknown>` for the rest."""
    available = {
        n["metadata"]["name"]: (n.get("status") or {}).get(
            "capacity" if capacity else "allocatable"
        )
        or {}
        for n in nodes
    }
    rows = [(m, (_cpu(m.get("usage") or {}), _memory(m.get("usage") or {}))) for m in metrics]
    rows = _sorted(sorted(rows, key=lambda r: r[0]["metadata"]["name"]), sort_by)
    lines = [] if no_headers else ["\t".join(NODE_COLUMNS) + "\t"]
    for m, usage in rows:
        name = m["metadata"]["name"]
        cells = _cells(usage, available.pop(name, {}))
        lines.append("\t".join([name, *cells]) + "\t")
    for name in available:
        lines.append("\t".join([name, *["<unknown>"] * 4]) + "\t")
    return tabwriter.tabwrite(lines, padding=PADDING, min_width=MIN_WIDTH)


def _namespaced_name(obj: dict) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def pod_lines(
    metrics: list[dict], *, containers: bool = False, all_namespaces: bool = False,
    no_headers: bool = False, sort_by: str | None = None, total: bool = False,
) -> list[str]:  # fmt: skip
    """kubectl's PrintPodMetrics (with `--containers`, a line per container)."""
    lines = []
    if not no_headers:
        head = (["NAMESPACE"] if all_namespaces else []) + (["POD"] if containers else [])
        lines.append("\t".join([*head, *POD_COLUMNS]) + "\t")
    rows = []
    for m in metrics:
        usages = [c.get("usage") or {} for c in m.get("containers") or []]
        rows.append((m, (sum(_cpu(u) for u in usages), sum(_memory(u) for u in usages))))
    rows = _sorted(sorted(rows, key=lambda r: _namespaced_name(r[0])), sort_by)
    for m, usage in rows:
        prefix = [m["metadata"].get("namespace", "")] if all_namespaces else []
        if containers:
            for c in sorted(m.get("containers") or [], key=lambda c: c.get("name", "")):
                u = c.get("usage") or {}
                lines.append(
                    "\t".join([*prefix, m["metadata"]["name"], c.get("name", ""),
                               *_cells((_cpu(u), _memory(u)), None)]) + "\t"
                )  # fmt: skip
        else:
            lines.append("\t".join([*prefix, m["metadata"]["name"], *_cells(usage, None)]) + "\t")
    if total:
        width = len(POD_COLUMNS) + (1 if all_namespaces else 0) + (1 if containers else 0)
        cpu = sum(r[1][0] for r in rows)
        memory = sum(r[1][1] for r in rows)
        lines.append("\t" * (width - 2) + "________\t________\t")
        lines.append("\t" * (width - 3) + "\t" + "\t".join(_cells((cpu, memory), None)) + "\t")
    return tabwriter.tabwrite(lines, padding=PADDING, min_width=MIN_WIDTH)


async def _available(client: ApiClient) -> None:
    groups = await client.request("GET", "/apis")
    for group in (groups or {}).get("groups") or []:
        if group.get("name") == "metrics.k8s.io" and any(
            v.get("version") == "v1beta1" for v in group.get("versions") or []
        ):
            return
    raise errors.CliError("Metrics API not available")


def register(app: typer.Typer) -> None:
    top = typer.Typer(help="Display resource (CPU/memory) usage from the metrics API.")
    app.add_typer(top, name="top")

    @top.command("node", help="Resource usage of nodes.")
    @top.command("nodes", help="Resource usage of nodes.")
    def nodes(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Argument(help="A node's name")] = None,
        selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
        show_capacity: Annotated[bool, typer.Option("--show-capacity")] = False,
        no_headers: Annotated[bool, typer.Option("--no-headers")] = False,
        sort_by: Annotated[str | None, typer.Option("--sort-by", help="cpu or memory")] = None,
    ) -> None:
        async def go(client: ApiClient) -> None:
            await _available(client)
            params = {"labelSelector": selector} if selector else None
            if name:
                items = [await client.request("GET", f"{METRICS}/nodes/{name}")]
                node_list = [await client.get(NODES, name)]
            else:
                items = (await client.request("GET", f"{METRICS}/nodes", params=params))["items"]
                node_list = (await client.list(NODES, label_selector=selector))["items"]
            if not items:
                raise errors.CliError("metrics not available yet")
            for line in node_lines(
                items, node_list, capacity=show_capacity, no_headers=no_headers, sort_by=sort_by
            ):
                output.echo(line)

        session.of(ctx).run(go)

    @top.command("pod", help="Resource usage of pods.")
    @top.command("pods", help="Resource usage of pods.")
    def pods(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Argument(help="A pod's name")] = None,
        all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
        selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
        containers: Annotated[bool, typer.Option("--containers")] = False,
        no_headers: Annotated[bool, typer.Option("--no-headers")] = False,
        sort_by: Annotated[str | None, typer.Option("--sort-by", help="cpu or memory")] = None,
        total: Annotated[bool, typer.Option("--sum", help="Print the sum of usage")] = False,
    ) -> None:
        s = session.of(ctx)

        async def go(client: ApiClient) -> None:
            await _available(client)
            namespace = s.namespace_flag or s.config.namespace
            base = METRICS if all_namespaces else f"{METRICS}/namespaces/{namespace}"
            if name:
                items = [await client.request("GET", f"{base}/pods/{name}")]
            else:
                params = {"labelSelector": selector} if selector else None
                items = (await client.request("GET", f"{base}/pods", params=params))["items"]
            if not items:
                where = "" if all_namespaces else f" in {namespace} namespace"
                output.echo(f"No resources found{where}.", err=True)
                return
            for line in pod_lines(
                items, containers=containers, all_namespaces=all_namespaces,
                no_headers=no_headers, sort_by=sort_by, total=total,
            ):  # fmt: skip
                output.echo(line)

        s.run(go)
