"""The webhook backend (`--audit-webhook-config-file`): events POSTed in batches as an
`audit.k8s.io/v1` EventList, as Kubernetes' buffered webhook backend sends them.

The config file is a kubeconfig (the cluster's `server` is the URL events go to; its CA,
client certificate or token authenticate both sides). The event loop only appends to a
bounded buffer; a task of its own collects a batch (up to `--audit-webhook-batch-max-size`
events, or whatever arrived within `--audit-webhook-batch-max-wait`), waits for the
throttle (`-throttle-qps`, `-throttle-burst`), and sends it from a task of its own, so a
slow receiver delays only its own batch. A full buffer drops events (counted in
`apiserver_audit_error_total{plugin="buffered"}`); a batch the receiver refuses — after
retries with backoff from `--audit-webhook-initial-backoff` on connection errors, 429, 500
and 504, as Kubernetes' `DefaultShouldRetry` — is dropped and counted under
`plugin="webhook"`. No request ever waits for the webhook.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from minik8s.apiserver.audit import metrics
from minik8s.client import kubeconfig, tls

logger = logging.getLogger(__name__)

PLUGIN = "webhook"
EVENT_LIST = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}}
RETRY_CODES = frozenset({429, 500, 504})
RETRY_STEPS = 5
BACKOFF_FACTOR, BACKOFF_JITTER = 1.5, 0.2
"""Kubernetes' `DefaultRetryBackoffWithInitialDelay`: 5 tries, x1.5 each, 20% jitter."""
REQUEST_TIMEOUT = 30.0
"""Seconds one POST may take (Kubernetes' webhook client default)."""
MAX_IN_FLIGHT = 8
"""Batches sent at once; the buffer fills while more wait."""
STOP_TIMEOUT = 5.0
"""Seconds `stop` spends sending what is buffered."""


@dataclass(frozen=True)
class BatchSettings:
    buffer_size: int = 10_000
    """Events kept while waiting to be sent; more are dropped."""
    max_size: int = 400
    """Events per POST at most."""
    max_wait: float = 30.0
    """Seconds a batch collects events before it is sent, however few."""
    throttle_enable: bool = True
    throttle_qps: float = 10.0
    """Batches per second sent at most (with a burst of `throttle_burst`)."""
    throttle_burst: int = 15
    initial_backoff: float = 10.0
    """Seconds before the first retry of a failed batch."""


def load_config(path: str) -> kubeconfig.ClientConfig:
    """The webhook's kubeconfig; ValueError (one line) when it cannot be used."""
    try:
        config = kubeconfig.load_kubeconfig(path)
        tls.tls_context(config)  # fail at start, not at the first batch
    except kubeconfig.ConfigError as e:
        raise ValueError(f"--audit-webhook-config-file: {e}") from e
    return config


class WebhookBackend:
    name = PLUGIN

    def __init__(self, config: kubeconfig.ClientConfig, settings: BatchSettings) -> None:
        self.config = config
        self.settings = settings
        self._buffer: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self._collector: asyncio.Task[None] | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tokens = float(settings.throttle_burst)
        self._refilled = time.monotonic()
        self.sent = 0
        """Events delivered so far."""

    def process(self, event: Any) -> None:
        """Buffer one event; never blocks. Called on the event loop."""
        if len(self._buffer) >= self.settings.buffer_size:
            metrics.plugin_error(metrics.BUFFERED, 1, "audit buffer queue blocked")
            return
        self._buffer.append(event)
        if len(self._buffer) >= self.settings.max_size or self._stopping:
            self._arrived.set()

    async def start(self) -> None:
        headers = {"Content-Type": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=tls.tls_context(self.config)),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        self._collector = asyncio.create_task(self._collect(), name="audit-webhook-collector")
        self._collector.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Send what is buffered (for at most `STOP_TIMEOUT`), then close."""
        self._stopping = True
        self._arrived.set()
        pending = [t for t in (self._collector, *self._senders) if t is not None]
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_TIMEOUT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        if self._buffer:
            metrics.plugin_error(PLUGIN, len(self._buffer), "apiserver stopped")
            self._buffer.clear()
        if self._session is not None:
            await self._session.close()

    async def _collect(self) -> None:
        settings = self.settings
        while not (self._stopping and not self._buffer):
            deadline = time.monotonic() + settings.max_wait
            while len(self._buffer) < settings.max_size and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
            if not self._buffer:
                continue
            batch = [
                self._buffer.popleft() for _ in range(min(settings.max_size, len(self._buffer)))
            ]
            if settings.throttle_enable and not self._stopping:
                await self._throttle()
            await self._slots.acquire()
            task = asyncio.create_task(self._send(batch), name="audit-webhook-send")
            self._senders.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._senders.discard(task)
        self._slots.release()
        _log_crash(task)

    async def _throttle(self) -> None:
        """A token bucket of `throttle_burst` tokens refilled at `throttle_qps` per second."""
        settings = self.settings
        while True:
            now = time.monotonic()
            self._tokens = min(
                float(settings.throttle_burst),
                self._tokens + (now - self._refilled) * settings.throttle_qps,
            )
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await asyncio.sleep((1 - self._tokens) / settings.throttle_qps)

    async def _send(self, batch: list[Any]) -> None:
        assert self._session is not None
        body = orjson.dumps({**EVENT_LIST, "items": batch})
        delay = self.settings.initial_backoff
        error = ""
        for attempt in range(1, RETRY_STEPS + 1):
            retry = False
            try:
                async with self._session.post(self.config.server, data=body) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.sent += len(batch)
                        return
                    error = f"the webhook answered {response.status}"
                    retry = response.status in RETRY_CODES
            except (aiohttp.ClientError, TimeoutError) as e:
                error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                retry = True
            if not retry or attempt == RETRY_STEPS or self._stopping:
                break
            logger.warning("audit webhook: %s (attempt %d/%d)", error, attempt, RETRY_STEPS)
            await asyncio.sleep(delay * (1 + BACKOFF_JITTER * random.random()))
            delay *= BACKOFF_FACTOR
        metrics.plugin_error(PLUGIN, len(batch), error)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("audit webhook task %s crashed", task.get_name(), exc_info=task.exception())
