"""The architecture view's log: every step the dashboard learns of (audit events from the
apiserver's webhook, watch events), numbered, in a bounded ring buffer.

Writers append; each browser reads from its own cursor, so a slow browser never slows the
others and nothing is dropped while it is less than `capacity` entries behind (past that the
reader is told how many it skipped). Readers get everything new in one batch: at high rates
a batch carries many steps, which the page aggregates into one token per arrow.

Entries are kept as the JSON they are sent as: a step is ~270 bytes of JSON and ~540 as a dict,
and at 100 hollow nodes the log fills within minutes (50 000 steps: 16.4 MB instead of 27.1;
`python -m bench.flowlog`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson

from minik8s.api.encoding import right_sized

Entry = dict[str, Any]


class FlowLog:
    def __init__(self, capacity: int = 50_000) -> None:
        self._entries: deque[bytes] = deque(maxlen=capacity)
        self._next = 0
        """The sequence number the next entry gets."""
        self._changed = asyncio.Event()

    @property
    def next_seq(self) -> int:
        return self._next

    def append(self, entries: list[Entry]) -> None:
        for entry in entries:
            entry["seq"] = self._next
            self._next += 1
            self._entries.append(right_sized(orjson.dumps(entry)))
        if entries:
            self._changed.set()
            self._changed = asyncio.Event()

    def since(self, cursor: int, limit: int = 5000) -> tuple[list[bytes], int, int]:
        """(entries from `cursor` on as JSON, at most `limit`; the next cursor; entries
        skipped)."""
        oldest = self._next - len(self._entries)
        skipped = max(0, oldest - cursor)
        start = max(cursor, oldest)
        count = min(self._next - start, limit)
        first = start - oldest
        items = [self._entries[i] for i in range(first, first + count)]
        return items, start + count, skipped

    async def wait(self, cursor: int, timeout: float) -> None:
        """Return when there is an entry at `cursor` or later, or after `timeout` seconds."""
        if cursor < self._next:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
