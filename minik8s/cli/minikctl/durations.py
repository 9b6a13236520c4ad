"""Durations as kubectl takes them: `120`, `120s`, `2m`, `1m30s`, `500ms`, `1h`."""

from __future__ import annotations

import typer

from minik8s.api import durations


def parse_duration(text: str | float) -> float:
    """Seconds in `text`; a bare number is seconds. Raises typer.BadParameter otherwise."""
    try:
        return durations.parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
