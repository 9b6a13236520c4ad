"""When and how long to wait before retrying a request: pure functions, no I/O.

Rules (those of client-go): any request is retried when the server answers 429, or 5xx with a
`Retry-After` header (it says it did not process the request), and when the connection failed
before the request was sent. Only idempotent requests are retried on a broken connection or a
bare 502/503/504, since the server may have acted on them. Retries are finite.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRYABLE_WITHOUT_HINT = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    """Attempts in all, the first included; 1 disables retries."""
    backoff_base: float = 0.1
    """Seconds to wait after the first failure; doubled after each further one."""
    backoff_cap: float = 5.0
    """Longest wait between two attempts when the server gives no `Retry-After`."""
    max_retry_after: float = 30.0
    """Longest `Retry-After` honoured; a longer one is cut to this."""
    jitter: float = 0.1
    """Fraction of random spread added to each backoff, so clients do not retry in step."""
    retry_after_jitter: float = 0.5
    """Fraction of random spread added to a server's `Retry-After` (client-go waits exactly
    that long; a thousand clients turned away together would then all return together)."""


def exponential_delay(base: float, cap: float, failures: int) -> float:
    """`base * 2**(failures-1)`, at most `cap`: 1 failure waits `base`, each next one doubles."""
    exponent = min(max(failures - 1, 0), 62)
    return min(base * (2.0**exponent), cap)


def backoff_delay(policy: RetryPolicy, attempt: int, rand: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), with jitter."""
    delay = exponential_delay(policy.backoff_base, policy.backoff_cap, attempt)
    spread = random.random() if rand is None else rand
    return delay * (1.0 + policy.jitter * spread)


def retry_delay(
    policy: RetryPolicy, attempt: int, retry_after: float | None, rand: float | None = None
) -> float:
    """The wait before the next attempt: the server's `Retry-After` (at least, spread by
    `retry_after_jitter`) if any, else backoff."""
    if retry_after is not None:
        spread = random.random() if rand is None else rand
        wait = min(max(retry_after, 0.0), policy.max_retry_after)
        return wait * (1.0 + policy.retry_after_jitter * spread)
    return backoff_delay(policy, attempt, rand)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def may_retry_response(method: str, status_code: int, retry_after: float | None) -> bool:
    """Whether a request that got `status_code` may be sent again."""
    if status_code == 429:
        return True
    if status_code >= 500 and retry_after is not None:
        return True
    return method.upper() in IDEMPOTENT_METHODS and status_code in RETRYABLE_WITHOUT_HINT


def may_retry_transport_error(method: str, request_was_sent: bool) -> bool:
    """Whether a request whose connection failed may be sent again."""
    return not request_was_sent or method.upper() in IDEMPOTENT_METHODS
