"""Caps on open watches (per client and in all) and on how long one watch may last.

Each open watch holds a queue and a streaming response. Past `max_total` watches, or
`max_per_client` for one client (the authenticated user; the peer address without
authentication), a new watch is refused with 429 and `Retry-After`, as Kubernetes' own
inflight limits answer. `timeoutSeconds` is honoured up to twice `--min-request-timeout`,
the longest the server would pick itself; without it a watch lasts `--min-request-timeout`
times a random factor in [1, 2), so clients do not all reconnect at once.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from minik8s.api import errors

RETRY_AFTER_SECONDS = 1


@dataclass
class WatchLimits:
    max_total: int = 20_000
    """Open watches in all; 0: no cap."""
    max_per_client: int = 5_000
    """Open watches of one client; 0: no cap."""
    min_request_timeout: float = 1800.0
    """`--min-request-timeout`, in seconds."""
    open_by_client: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.open_by_client.values())

    def acquire(self, client: str) -> None:
        """Count a new watch of `client`, or refuse it with 429."""
        if self.max_total and self.total >= self.max_total:
            raise errors.TooManyRequests(
                f"too many open watches ({self.max_total}); please try again later",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        if self.max_per_client and self.open_by_client[client] >= self.max_per_client:
            raise errors.TooManyRequests(
                f"too many open watches for {client} ({self.max_per_client}); "
                "please try again later",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self.open_by_client[client] += 1

    def release(self, client: str) -> None:
        self.open_by_client[client] -= 1
        if self.open_by_client[client] <= 0:
            del self.open_by_client[client]

    def timeout(self, requested: int | None) -> float:
        """Seconds a watch lasts: `timeoutSeconds` (0 or absent: the server's choice)."""
        longest = 2 * self.min_request_timeout
        if requested:
            return float(min(requested, longest))
        return self.min_request_timeout * (1 + random.random())
