"""`minikctl explain TYPE[.FIELD...] [--recursive]`: a kind's fields and their descriptions,
read from the apiserver's `/openapi/v3` documents and printed as kubectl 1.32's plaintext
explain prints them."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer

from minik8s.api import resources
from minik8s.api.meta import Object
from minik8s.api.resources import ResourceType
from minik8s.cli.minikctl import errors, output, session, targets
from minik8s.client.api import ApiClient

REF_PREFIX = "#/components/schemas/"


def _resolve(schema: Object, document: Object) -> Object:
    ref = schema.get("$ref")
    if ref:
        return (document.get("components") or {}).get("schemas", {}).get(
            ref[len(REF_PREFIX) :]
        ) or schema
    return schema


def type_guess(schema: Object, document: Object) -> str:
    """kubectl's short type: `string`, `Object`, `[]Container`, `map[string]string`..."""
    if schema.get("items"):
        return "[]" + type_guess(schema["items"], document)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        return "map[string]" + type_guess(additional, document)
    all_of = schema.get("allOf")
    if all_of and not schema.get("properties") and len(all_of) == 1:
        return type_guess(all_of[0], document)
    ref = schema.get("$ref")
    if ref:
        target = _resolve(schema, document)
        if target is schema or not target.get("type") or target.get("type") == "object":
            return ref.rsplit("/", 1)[-1].rsplit(".", 1)[-1] or "Object"
        return str(target["type"])
    kind = schema.get("type")
    return "Object" if kind in (None, "object") else str(kind)


def _wrap(text: str, width: int, indent: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        wrapped = textwrap.wrap(
            paragraph, width, break_long_words=False, break_on_hyphens=False
        ) or [""]
        lines.extend(" " * indent + line for line in wrapped)
    return lines


def _description(schema: Object, document: Object) -> str:
    resolved = _resolve(schema, document)
    parts = []
    if resolved.get("description"):
        parts.append(resolved["description"] + "\n")
    for sub in resolved.get("allOf") or []:
        text = _description(sub, document)
        if text:
            parts.append(text)
    if resolved.get("items"):
        text = _description(resolved["items"], document)
        if text:
            parts.append(text)
    additional = resolved.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        text = _description(additional, document)
        if text:
            parts.append(text)
    return "".join(parts)


def _field_list(
    schema: Object, document: Object, level: int, recursive: bool, seen: frozenset[str]
) -> list[str]:
    ref = schema.get("$ref") or ""
    if ref and ref in seen:
        return []
    seen = seen | {ref} if ref else seen
    resolved = _resolve(schema, document)
    lines: list[str] = []
    required = resolved.get("required") or []
    for name in sorted(resolved.get("properties") or {}):
        field = resolved["properties"][name]
        indent = level * 2
        head = f"{' ' * indent}{name}\t<{type_guess(field, document)}>"
        if name in required:
            head += " -required-"
        lines.append(head)
        if recursive:
            lines.extend(_field_list(field, document, level + 1, recursive, seen))
        else:
            lines.extend(
                _wrap(field.get("description") or "<no description>", 78 - indent, indent + 2)
            )
            lines.append("")
    for sub in resolved.get("allOf") or []:
        lines.extend(_field_list(sub, document, level, recursive, seen))
    if resolved.get("items"):
        lines.extend(_field_list(resolved["items"], document, level, recursive, seen))
    additional = resolved.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        lines.extend(_field_list(additional, document, level, recursive, seen))
    return lines


def _output(schema: Object, document: Object, path: list[str], recursive: bool) -> list[str] | None:
    """The explanation at the end of `path` (None when the path does not exist)."""
    resolved = _resolve(schema, document)
    if not path:
        text = _description(schema, document) or "<empty>"
        lines = ["DESCRIPTION:", *_wrap(text.removesuffix("\n"), 76, 4)]
        if text.endswith("\n"):
            lines.append("    ")
        fields = _field_list(schema, document, 1, recursive, frozenset())
        if fields:
            lines += ["FIELDS:", *fields]
        return lines
    properties = resolved.get("properties") or {}
    if path[0] in properties:
        sub = properties[path[0]]
        head = []
        if len(path) == 1:
            head = [f"FIELD: {path[0]} <{type_guess(sub, document)}>", "", ""]
        rest = _output(sub, document, path[1:], recursive)
        return None if rest is None else head + rest
    if resolved.get("items"):
        return _output(resolved["items"], document, path, recursive)
    additional = resolved.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        return _output(additional, document, path, recursive)
    for sub in resolved.get("allOf") or []:
        found = _output(sub, document, path, recursive)
        if found is not None:
            return found
    return None


def explain(document: Object, rt: ResourceType, path: list[str], recursive: bool) -> str:
    """The plaintext explanation of `rt` (and `path` in it) from its group version's
    OpenAPI v3 document."""
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    schema = next(
        (
            s
            for s in ((document.get("components") or {}).get("schemas") or {}).values()
            if gvk in (s.get("x-kubernetes-group-version-kind") or [])
        ),
        None,
    )
    if schema is None:
        raise errors.CliError(
            f"GVK {rt.group}/{rt.version}, Kind={rt.kind} not found in OpenAPI schema"
        )
    body = _output(schema, document, path, recursive)
    if body is None:
        raise errors.CliError(f'field "{path[-1]}" does not exist')
    head = [f"GROUP:      {rt.group}"] if rt.group else []
    head += [f"KIND:       {rt.kind}", f"VERSION:    {rt.version}", ""]
    return "\n".join(head + body) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("explain", help="Describe the fields of a kind, from the server's OpenAPI.")
    def explain_command(
        ctx: typer.Context,
        what: Annotated[str, typer.Argument(help="TYPE[.FIELD...], e.g. pod.spec.containers")],
        recursive: Annotated[bool, typer.Option("--recursive", help="Print every field")] = False,
        api_version: Annotated[
            str | None, typer.Option("--api-version", help="Group/version of the kind")
        ] = None,
    ) -> None:
        word, *path = what.split(".")
        with errors.handled():
            rt = targets.resource_type(word)
            if api_version:
                rt = resources.by_kind(api_version, rt.kind) or rt

        async def go(client: ApiClient) -> None:
            index = await client.request("GET", "/openapi/v3")
            key = f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"
            entry = ((index or {}).get("paths") or {}).get(key)
            if not entry:
                raise errors.CliError(
                    f'couldn\'t find resource for "{rt.group}/{rt.version}, Resource={rt.plural}"'
                )
            document = await client.request("GET", entry["serverRelativeURL"])
            output.echo(explain(document, rt, path, recursive))

        session.of(ctx).run(go)
