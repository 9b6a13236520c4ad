"""Warnings a request collects on its way, sent back as `Warning` headers (kubectl prints them).

Like Kubernetes' `warning.AddWarning(ctx, …)`: any code serving a request adds to the
request's own recorder (a context variable: each request runs in its own task), and the
handler turns what was added into `Warning: 299 - "…"` headers.
"""

from __future__ import annotations

import contextvars

MAX_WARNINGS = 50
"""Kubernetes caps warnings per response too; more are summarised in one line."""

_RECORDED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "minik8s_warnings", default=None
)


def start() -> list[str]:
    """Begin recording for the current request; returns the list that collects warnings."""
    recorded: list[str] = []
    _RECORDED.set(recorded)
    return recorded


def add(message: str) -> None:
    """Record a warning for the current request (ignored outside one)."""
    recorded = _RECORDED.get()
    if recorded is not None and message not in recorded:
        recorded.append(message)


def header_values(recorded: list[str]) -> list[str]:
    """The `Warning` header values: code 299, agent "-", the text as a quoted string."""
    shown = recorded[:MAX_WARNINGS]
    if len(recorded) > MAX_WARNINGS:
        shown.append(f"{len(recorded) - MAX_WARNINGS} more warnings were not shown")
    return [f'299 - "{_quoted(text)}"' for text in shown]


def _quoted(text: str) -> str:
    cleaned = "".join(c if c.isprintable() and c.isascii() else " " for c in text)
    return cleaned.replace("\\", "\\\\").replace('"', '\\"')
