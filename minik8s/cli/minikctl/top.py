"""`minikctl top nodes`: each node's requested CPU, memory and pods against what it can hold.

There is no metrics server: this is the capacity view (what the scheduler accounts), like
`kubectl describe node`'s "Allocated resources", one line per node.
"""

from __future__ import annotations

from typing import Any

import typer

from minik8s.api import quantity
from minik8s.api.resources import NODES, PODS
from minik8s.cli.minikctl import output, session
from minik8s.client.api import ApiClient

HEADER = ["NAME", "CPU(requests)", "CPU%", "MEMORY(requests)", "MEMORY%", "PODS", "STATUS"]


def _requests(pod: dict[str, Any]) -> tuple[int, int]:
    cpu = memory = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += quantity.cpu_millis(requests.get("cpu", 0))
        memory += quantity.memory_bytes(requests.get("memory", 0))
    return cpu, memory


def _ready(node: dict[str, Any]) -> str:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return {"True": "Ready", "False": "NotReady"}.get(condition.get("status"), "Unknown")
    return "Unknown"


def capacity_rows(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[list[str]]:
    """One row per node: requests of its non-terminated pods against its allocatable."""
    used: dict[str, list[int]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        cpu, memory = _requests(pod)
        totals = used.setdefault(node, [0, 0, 0])
        totals[0] += cpu
        totals[1] += memory
        totals[2] += 1
    rows = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        cpu_total = quantity.cpu_millis(allocatable.get("cpu", 0))
        memory_total = quantity.memory_bytes(allocatable.get("memory", 0))
        cpu, memory, count = used.get(name, [0, 0, 0])
        rows.append(
            [
                name,
                quantity.format_cpu_millis(cpu),
                f"{100 * cpu // cpu_total}%" if cpu_total else "-",
                quantity.format_bytes(memory),
                f"{100 * memory // memory_total}%" if memory_total else "-",
                f"{count}/{allocatable.get('pods', '-')}",
                _ready(node),
            ]
        )
    return rows


def register(app: typer.Typer) -> None:
    top = typer.Typer(
        help="Resource requests per node (no metrics server: requests vs allocatable)."
    )
    app.add_typer(top, name="top")

    @top.command("nodes", help="Requested CPU/memory and pods per node, against its allocatable.")
    def nodes(ctx: typer.Context) -> None:
        async def go(client: ApiClient) -> None:
            node_list = (await client.list(NODES))["items"]
            pod_list = (await client.list(PODS))["items"]
            for line in output.align([HEADER, *capacity_rows(node_list, pod_list)]):
                output.echo(line)

        session.of(ctx).run(go)
