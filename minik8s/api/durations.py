"""Go-style durations as Kubernetes flags and kubectl take them: `120`, `2m`, `1h0m0s`, `500ms`."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float) -> float:
    """Seconds in `text`; a bare number is seconds. Raises ValueError otherwise."""
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    total, position = 0.0, 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise ValueError(
            f'invalid duration "{text}": use e.g. 30s, 2m, 1h0m0s or a number of seconds'
        )
    return total
