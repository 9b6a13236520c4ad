"""`minikctl label` and `minikctl annotate`: `k=v` sets, `k-` removes, as a merge patch of
`metadata.labels` / `metadata.annotations`; an existing different value needs `--overwrite`."""

from __future__ import annotations

from typing import Annotated

import typer

from minik8s.cli.minikctl import errors, output, session, targets
from minik8s.client.api import ApiClient


def parse_changes(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`k=v` and `k-` words as (to set, to remove)."""
    sets: dict[str, str] = {}
    removes: list[str] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise errors.CliError(f"invalid label spec: {word}")
            sets[key] = value
        elif word.endswith("-") and len(word) > 1:
            removes.append(word[:-1])
        else:
            raise errors.CliError(f"invalid label spec: {word}")
    if not sets and not removes:
        raise errors.CliError("at least one label update is required")
    return sets, removes


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Object words first (`TYPE NAME…` or `TYPE/NAME…`), then `k=v`/`k-` words."""
    for i, word in enumerate(args):
        if "=" in word or (word.endswith("-") and i > 0):
            return args[:i], args[i:]
    return args, []


def _command(app: typer.Typer, verb: str, field: str, past: str) -> None:
    @app.command(verb, help=f"Update the {field} of objects: KEY=VALUE sets, KEY- removes.")
    def change(
        ctx: typer.Context,
        args: Annotated[list[str], typer.Argument(help="TYPE NAME | TYPE/NAME, then KEY=VAL/KEY-")],
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Allow replacing existing values")
        ] = False,
        selector: Annotated[str | None, typer.Option("--selector", "-l")] = None,
        all_objects: Annotated[bool, typer.Option("--all")] = False,
    ) -> None:
        s = session.of(ctx)
        with errors.handled():
            object_words, change_words = split_args(args)
            sets, removes = parse_changes(change_words)
            wanted = targets.parse(object_words)
            if any(t.name is None for t in wanted) and not (selector or all_objects):
                raise errors.CliError("resource(s) were provided, but no name was specified")

        async def go(client: ApiClient) -> None:
            for t in wanted:
                ns = s.namespace if t.rt.namespaced else None
                names = [t.name] if t.name else [
                    i["metadata"]["name"]
                    for i in (await client.list_all(t.rt, ns, label_selector=selector))["items"]
                ]  # fmt: skip
                for name in names:
                    obj = await client.get(t.rt, name, ns)
                    current = (obj.get("metadata") or {}).get(field) or {}
                    if not overwrite:
                        for key, value in sets.items():
                            if key in current and current[key] != value:
                                raise errors.CliError(
                                    f"'{key}' already has a value ({current[key]}), and "
                                    "--overwrite is false"
                                )
                    changes: dict[str, str | None] = dict(sets)
                    changes.update({key: None for key in removes})
                    rv = obj["metadata"].get("resourceVersion")
                    patch = {"metadata": {field: changes, "resourceVersion": rv}}
                    await client.patch(t.rt, name, patch, namespace=ns)
                    unchanged = all(current.get(k) == v for k, v in sets.items()) and not any(
                        k in current for k in removes
                    )
                    word = f"not {past}" if unchanged else past
                    if not sets and removes and not unchanged:
                        word = f"un{past}"
                    output.echo(f"{targets.ref(t.rt, name)} {word}")

        s.run(go)


def register(app: typer.Typer) -> None:
    _command(app, "label", "labels", "labeled")
    _command(app, "annotate", "annotations", "annotated")
