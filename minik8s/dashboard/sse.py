"""Server-Sent Events framing (the `text/event-stream` format browsers' EventSource reads)."""

from __future__ import annotations

from typing import Any

import orjson

KEEPALIVE = b": keepalive\n\n"
"""A comment line: keeps proxies and the browser from timing the stream out."""


def event(name: str, data: Any) -> bytes:
    """One event; JSON has no raw newlines, so `data` is a single line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
