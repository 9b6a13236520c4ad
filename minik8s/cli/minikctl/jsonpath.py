"""A subset of kubectl's JSONPath templates: `{.a.b[0].c}`, `{.items[*].metadata.name}`,
`{range .items[*]}…{end}`, quoted literals `{"\\n"}`, `['key.with.dots']`; plain text kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from minik8s.cli.minikctl.errors import CliError

_PART = re.compile(r"\.([^.\[\]]+)|\['([^']*)'\]|\[([^\]]*)\]")


def _select(values: list[Any], path: str) -> list[Any]:
    """Every value `path` (e.g. `.items[*].metadata.name`) reaches from each of `values`."""
    path = path.strip()
    if path in ("", "."):
        return values
    if path.startswith("$"):
        path = path[1:]
    pos = 0
    while pos < len(path):
        match = _PART.match(path, pos)
        if match is None:
            raise CliError(f"error parsing jsonpath {path!r}: unexpected {path[pos:]!r}")
        key, quoted, index = match.groups()
        pos = match.end()
        out: list[Any] = []
        for value in values:
            if key is not None or quoted is not None:
                name = key if key is not None else quoted
                if isinstance(value, dict) and name in value:
                    out.append(value[name])
            elif index == "*":
                if isinstance(value, list):
                    out.extend(value)
                elif isinstance(value, dict):
                    out.extend(value.values())
            elif isinstance(value, list):
                try:
                    if ":" in index:
                        start, _, stop = index.partition(":")
                        out.extend(value[int(start or 0) : int(stop) if stop else None])
                    else:
                        out.append(value[int(index)])
                except (ValueError, IndexError):
                    continue
        values = out
    return values


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _tokens(template: str) -> list[tuple[str, str]]:
    """(`text` | `expr`, content) pieces of a template."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            tokens.append(("text", template[pos:]))
            break
        if start > pos:
            tokens.append(("text", template[pos:start]))
        end = template.find("}", start)
        if end < 0:
            raise CliError(f"error parsing jsonpath {template!r}: unclosed action")
        tokens.append(("expr", template[start + 1 : end].strip()))
        pos = end + 1
    return tokens


def render(template: str, data: Any) -> str:
    """Apply a kubectl JSONPath template to `data`."""
    tokens = _tokens(template)
    out, index = _render(tokens, 0, data)
    if index != len(tokens):
        raise CliError(f"error parsing jsonpath {template!r}: unexpected {{end}}")
    return out


def _render(tokens: list[tuple[str, str]], index: int, data: Any) -> tuple[str, int]:
    parts: list[str] = []
    while index < len(tokens):
        kind, content = tokens[index]
        if kind == "text":
            parts.append(content)
        elif content == "end":
            return "".join(parts), index
        elif content.startswith("range "):
            body_start = index + 1
            end = body_start
            items = _select([data], content[len("range ") :])
            for item in items:
                text, end = _render(tokens, body_start, item)
                parts.append(text)
            if not items:
                _, end = _render(tokens, body_start, None)
            if end >= len(tokens):
                raise CliError("error parsing jsonpath: {range} without {end}")
            index = end
        elif content[:1] in "\"'":
            parts.append(_literal(content))
        else:
            parts.append(" ".join(_text(v) for v in _select([data], content)))
        index += 1
    return "".join(parts), index


def _literal(content: str) -> str:
    try:
        value = json.loads(content if content[0] == '"' else '"' + content[1:-1] + '"')
    except json.JSONDecodeError as e:
        raise CliError(f"error parsing jsonpath literal {content}") from e
    return str(value)
