"""Encoding JSON values that are kept, not sent at once."""

from __future__ import annotations


def right_sized(raw: bytes) -> bytes:
    """`raw` in an allocation of its own length, for encoded bytes that are kept.

    orjson (3.12 and later) returns the buffer it grew while encoding and does not shrink it:
    at least 4 KiB, and up to ~10x the output for nested objects (a 1 KB Event takes 4-8 KiB, a
    3 KB object 32 KiB). A response is freed once sent; bytes a process keeps (cached
    objects, documents encoded once, queued audit events, the dashboard's flow log) are copied
    once to their size."""
    return bytes(memoryview(raw))
