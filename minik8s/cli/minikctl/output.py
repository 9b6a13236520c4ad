"""Printing like kubectl: server-side Tables aligned as kubectl's tabwriter aligns them, and
objects as `-o yaml|json|name|jsonpath=…`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer
import yaml

from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import jsonpath, targets
from minik8s.cli.minikctl.errors import CliError

TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
"""The Accept header kubectl sends for `get`: a server-side Table, else plain JSON."""

MIN_WIDTH = 6
PADDING = 3
"""kubectl's tabwriter: cells at least 6 wide, 3 spaces between columns."""

FORMATS = ("json", "jsonpath", "name", "wide", "yaml")


@dataclass(frozen=True)
class Output:
    """What `-o` asked for: `table` (default), `wide`, `yaml`, `json`, `name`, `jsonpath`."""

    kind: str = "table"
    template: str = ""

    @property
    def tabular(self) -> bool:
        return self.kind in ("table", "wide")


def parse_output(value: str | None) -> Output:
    if not value:
        return Output()
    kind, _, template = value.partition("=")
    if kind in ("jsonpath", "jsonpath-as-json") and template:
        return Output("jsonpath", template)
    if kind in ("wide", "yaml", "json", "name") and not template:
        return Output(kind)
    raise CliError(
        f'unable to match a printer suitable for the output format "{value}", allowed '
        f"formats are: {','.join(FORMATS)}"
    )


def echo(text: str = "", *, err: bool = False) -> None:
    typer.echo(text, err=err)


# --- tables --------------------------------------------------------------------------


def align(rows: Sequence[Sequence[str]], widths: list[int] | None = None) -> list[str]:
    """Lines of `rows` aligned as Go's tabwriter(minwidth 6, padding 3) does for kubectl."""
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    if widths is None:
        widths = [0] * columns
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], MIN_WIDTH, len(cell) + PADDING)
    lines = []
    for row in rows:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join([*padded, row[-1] if row else ""]))
    return lines


def cell_text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def format_labels(labels: dict[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


@dataclass
class TableView:
    """How to turn a server Table into rows: which columns, and kubectl's decorations."""

    wide: bool = False
    with_namespace: bool = False
    with_kind: ResourceType | None = None
    show_labels: bool = False
    label_columns: list[str] = field(default_factory=list)

    def visible(self, table: dict) -> list[int]:
        definitions = table.get("columnDefinitions") or []
        return [
            i for i, c in enumerate(definitions) if self.wide or int(c.get("priority") or 0) == 0
        ]

    def header(self, table: dict) -> list[str]:
        definitions = table.get("columnDefinitions") or []
        names = [str(definitions[i].get("name", "")).upper() for i in self.visible(table)]
        if self.with_namespace:
            names.insert(0, "NAMESPACE")
        names.extend(key.rsplit("/", 1)[-1].upper() for key in self.label_columns)
        if self.show_labels:
            names.append("LABELS")
        return names

    def rows(self, table: dict) -> list[list[str]]:
        columns = self.visible(table)
        out = []
        for row in table.get("rows") or []:
            cells = row.get("cells") or []
            texts = [cell_text(cells[i] if i < len(cells) else None) for i in columns]
            meta = (row.get("object") or {}).get("metadata") or {}
            if self.with_kind is not None and texts:
                texts[0] = targets.ref(self.with_kind, texts[0])
            if self.with_namespace:
                texts.insert(0, str(meta.get("namespace") or ""))
            labels = meta.get("labels") or {}
            texts.extend(str(labels.get(key, "")) for key in self.label_columns)
            if self.show_labels:
                texts.append(format_labels(labels))
            out.append(texts)
        return out


def print_table(table: dict, view: TableView, *, no_headers: bool = False) -> list[int]:
    """Print one Table; return the column widths used (a watch keeps printing with them)."""
    rows = view.rows(table)
    lines = [view.header(table), *rows] if not no_headers else rows
    widths = [0] * max((len(r) for r in lines), default=0)
    for line in align(lines, widths):
        echo(line)
    return widths


# --- objects -------------------------------------------------------------------------


def as_list(items: Iterable[dict]) -> dict:
    return {
        "apiVersion": "v1",
        "items": list(items),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, default_flow_style=False, sort_keys=True, allow_unicode=True)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4, ensure_ascii=False)


def print_objects(objects: list[dict], output: Output, *, single: bool) -> None:
    """Print objects as yaml/json/jsonpath (one object alone when `single`), or names."""
    if output.kind == "name":
        for obj in objects:
            echo(targets.ref(targets.resource_for(obj), obj["metadata"]["name"]))
        return
    data: Any = objects[0] if single and len(objects) == 1 else as_list(objects)
    if output.kind == "yaml":
        typer.echo(to_yaml(data), nl=False)
    elif output.kind == "json":
        echo(to_json(data))
    elif output.kind == "jsonpath":
        typer.echo(jsonpath.render(output.template, data), nl=False)
    else:
        raise CliError(f"output format {output.kind} is not available here")
