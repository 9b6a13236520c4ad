"""The log backend (`--audit-log-path`): JSON lines, written by a thread of its own.

The event loop only appends each event (a dict it never changes again) to a bounded queue.
The writer thread wakes every `FLUSH_INTERVAL` (or as soon as `WAKE_AT` events wait), takes
everything queued, encodes it (orjson, one line per event) and writes it with one `write`
call: the loop never waits for the disk, and the two threads trade the GIL a few times a
second instead of once per request (waking the writer per event cost the apiserver more CPU
than the events themselves). A full queue drops the
event and counts it (`apiserver_audit_error_total{plugin="buffered"}`): a request is never
slowed or refused because the disk is slow, as Kubernetes' batch mode behaves. A write that
fails (disk full) loses its batch, counted under `plugin="log"`, and the writer goes on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any, Protocol

import orjson

from minik8s.apiserver.audit import metrics

logger = logging.getLogger(__name__)

PLUGIN = "log"
FLUSH_INTERVAL = 0.1
"""Seconds between two writes at most (how late an event may reach the file)."""
WAKE_AT = 2000
"""Queued events that wake the writer before its interval."""
STOP_TIMEOUT = 5.0
"""Seconds `stop` waits for the writer to flush what is queued."""


class Writer(Protocol):
    def write_lines(self, lines: list[bytes]) -> None: ...

    def close(self) -> None: ...


class LogBackend:
    name = PLUGIN

    def __init__(self, writer: Writer, buffer_size: int = 10_000) -> None:
        self.writer = writer
        self.buffer_size = buffer_size
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="audit-log-writer", daemon=True)
        self.written = 0
        """Events written so far (read by tests and benchmarks)."""

    def process(self, event: Any) -> None:
        """Queue one event; never blocks. Called on the event loop."""
        if len(self._queue) >= self.buffer_size:
            metrics.plugin_error(metrics.BUFFERED, 1, "audit buffer queue blocked")
            return
        self._queue.append(event)
        if len(self._queue) >= WAKE_AT and not self._wake.is_set():
            self._wake.set()

    async def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        """Write what is queued (waiting at most `STOP_TIMEOUT`), then close the file."""
        self._stopping = True
        self._wake.set()
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT)
        if self._thread.is_alive():
            logger.warning("the audit log writer did not finish in %.0fs", STOP_TIMEOUT)
            return
        self.writer.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self._drain()
            if self._stopping and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[Any] = []
            while queue and len(batch) < self.buffer_size:
                batch.append(queue.popleft())
            try:
                self.writer.write_lines(
                    [orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in batch]
                )
            except (OSError, TypeError) as e:
                metrics.plugin_error(PLUGIN, len(batch), str(e))
                continue
            self.written += len(batch)
