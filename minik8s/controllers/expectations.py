"""Controller expectations (client-go's ControllerExpectations): creates and deletes a
controller has asked for but not yet seen in its informer. While any are outstanding the
controller must not act on the (stale) cache, or it would create or delete twice.

Pure bookkeeping with an injectable clock; expectations expire after `ttl` seconds so a
lost watch event cannot block a controller forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

EXPECTATIONS_TTL = 300.0
"""Seconds after which unmet expectations are ignored (Kubernetes: 5 minutes)."""


@dataclass
class _Expected:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    """Uids (or keys) of pods we asked to delete and have not seen go."""
    set_at: float = 0.0


class Expectations:
    def __init__(
        self, ttl: float = EXPECTATIONS_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._by_key: dict[str, _Expected] = {}

    def satisfied(self, key: str) -> bool:
        """True when nothing is outstanding for `key` (or its expectations expired)."""
        expected = self._by_key.get(key)
        if expected is None:
            return True
        if expected.adds <= 0 and not expected.deletes:
            return True
        return self._clock() - expected.set_at > self.ttl

    def expect_creations(self, key: str, count: int) -> None:
        self._by_key[key] = _Expected(adds=count, set_at=self._clock())

    def expect_deletions(self, key: str, uids: list[str]) -> None:
        self._by_key[key] = _Expected(deletes=set(uids), set_at=self._clock())

    def expect(self, key: str, count: int, uids: list[str]) -> None:
        """Creates and deletes at once (a DaemonSet replaces a failed pod in one sync)."""
        self._by_key[key] = _Expected(adds=count, deletes=set(uids), set_at=self._clock())

    def creation_observed(self, key: str) -> None:
        expected = self._by_key.get(key)
        if expected is not None and expected.adds > 0:
            expected.adds -= 1

    def creations_skipped(self, key: str, count: int) -> None:
        """Creates we expected but never sent (a batch failed): stop waiting for them."""
        expected = self._by_key.get(key)
        if expected is not None:
            expected.adds = max(0, expected.adds - count)

    def deletion_observed(self, key: str, uid: str) -> None:
        expected = self._by_key.get(key)
        if expected is not None:
            expected.deletes.discard(uid)

    def pending(self, key: str) -> tuple[int, int]:
        """(creates, deletes) still outstanding."""
        expected = self._by_key.get(key)
        return (0, 0) if expected is None else (max(0, expected.adds), len(expected.deletes))

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)
