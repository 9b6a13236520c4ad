"""The caps on open watches (issue 17): in all and per client, each a 429 with Retry-After,
a released slot free again; timeoutSeconds clamped to twice --min-request-timeout."""

from __future__ import annotations

import pytest

from minik8s.api import errors
from minik8s.apiserver.watchlimits import WatchLimits


def test_the_total_cap_refuses_any_client_past_it() -> None:
    limits = WatchLimits(max_total=3, max_per_client=0)
    for client in ("a", "b", "c"):
        limits.acquire(client)
    with pytest.raises(errors.TooManyRequests) as refused:
        limits.acquire("d")  # a client with no watch open yet
    assert refused.value.code == 429 and refused.value.retry_after_seconds == 1
    assert "too many open watches (3)" in refused.value.message
    limits.release("b")
    limits.acquire("d")
    assert limits.total == 3


def test_the_per_client_cap_leaves_other_clients_alone() -> None:
    limits = WatchLimits(max_total=0, max_per_client=2)
    limits.acquire("a")
    limits.acquire("a")
    with pytest.raises(errors.TooManyRequests) as refused:
        limits.acquire("a")
    assert "too many open watches for a (2)" in refused.value.message
    limits.acquire("b")
    limits.release("a")
    limits.acquire("a")
    for _ in range(2):
        limits.release("a")
    assert dict(limits.open_by_client) == {"b": 1}


def test_timeouts_are_clamped_to_twice_the_min_request_timeout() -> None:
    limits = WatchLimits(min_request_timeout=60.0)
    assert limits.timeout(30) == 30.0
    assert limits.timeout(10**9) == 120.0
    for requested in (None, 0):
        assert 60.0 <= limits.timeout(requested) < 120.0
