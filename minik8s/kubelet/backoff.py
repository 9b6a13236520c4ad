"""Kubernetes' per-key exponential back-off (flowcontrol.Backoff), pure with an injected clock.

CrashLoopBackOff and ImagePullBackOff both use it: the first retry is immediate, the next waits
`base` (10 s), then doubling up to `cap` (5 min). An entry not touched for `2 * cap` (10 min,
e.g. a container that kept running) is forgotten, so the next failure starts over at `base`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, base: float = 10.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.cap

    def next(self, key: str, now: float) -> float:
        """Count one more retry of `key` at `now`; return the delay the retry after it waits."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            entry = _Entry(self.base, now)
        else:
            entry = _Entry(min(entry.delay * 2, self.cap), now)
        self._entries[key] = entry
        return entry.delay

    def delay(self, key: str, now: float) -> float:
        """The current delay of `key` (0 when it has none or it expired)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return 0.0
        return entry.delay

    def remaining(self, key: str, since: float, now: float) -> float:
        """Seconds still to wait when the last failure happened at `since` (0: go ahead)."""
        delay = self.delay(key, now)
        return max(0.0, since + delay - now) if delay else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        """Drop every key starting with `prefix` (a deleted pod's uid)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def gc(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if self._expired(e, now)]:
            del self._entries[key]
