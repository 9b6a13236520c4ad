"""Leader election decisions: who may take a Lease at time t, and what the Lease becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from minik8s.api.times import format_micro_time
from minik8s.api.times import parse_time as parse_micro_time
from minik8s.client.leaderelection import (
    LeaseAction,
    decide,
    held_spec,
    lease_expired,
    released_spec,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime = T0, duration: int = 15, **extra: object) -> dict:
    spec: dict = {"leaseDurationSeconds": duration, "renewTime": format_micro_time(renewed)}
    if holder is not None:
        spec["holderIdentity"] = holder
    return {"metadata": {"name": "sched", "resourceVersion": "3"}, "spec": {**spec, **extra}}


def test_micro_time_round_trips_in_kubernetes_format() -> None:
    assert format_micro_time(T0) == "2024-05-01T12:00:00.123456Z"
    assert parse_micro_time("2024-05-01T12:00:00.123456Z") == T0
    assert parse_micro_time("2024-05-01T12:00:00Z") == T0.replace(microsecond=0)
    assert parse_micro_time("2024-05-01T14:00:00+02:00") == T0.replace(microsecond=0)


def test_a_missing_lease_is_created() -> None:
    assert decide(None, "me", T0) is LeaseAction.CREATE


def test_the_holder_renews() -> None:
    assert decide(lease("me"), "me", T0 + timedelta(seconds=60)) is LeaseAction.RENEW


def test_a_live_lease_of_another_is_waited_for() -> None:
    assert decide(lease("other"), "me", T0 + timedelta(seconds=14)) is LeaseAction.WAIT


@pytest.mark.parametrize("after", [15, 16, 3600])
def test_an_expired_lease_is_taken_over(after: int) -> None:
    assert decide(lease("other"), "me", T0 + timedelta(seconds=after)) is LeaseAction.ACQUIRE


def test_a_lease_without_holder_or_times_is_free() -> None:
    assert lease_expired({}, T0)
    assert lease_expired(lease(None)["spec"], T0)
    assert lease_expired({"holderIdentity": "x", "leaseDurationSeconds": 15}, T0)
    assert lease_expired({"holderIdentity": "x", "renewTime": "garbage"}, T0)
    assert decide(lease(""), "me", T0) is LeaseAction.ACQUIRE


def test_creating_a_lease_holds_it_with_no_transition() -> None:
    spec = held_spec(None, "me", 15, T0)
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "acquireTime": "2024-05-01T12:00:00.123456Z",
        "renewTime": "2024-05-01T12:00:00.123456Z",
        "leaseTransitions": 0,
    }


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    first = held_spec(None, "me", 15, T0)
    later = T0 + timedelta(seconds=2)
    renewed = held_spec(first, "me", 15, later)
    assert renewed["acquireTime"] == first["acquireTime"]
    assert renewed["renewTime"] == format_micro_time(later)
    assert renewed["leaseTransitions"] == 0


def test_taking_over_counts_a_transition() -> None:
    theirs = held_spec(None, "other", 15, T0) | {"leaseTransitions": 4}
    later = T0 + timedelta(seconds=20)
    mine = held_spec(theirs, "me", 10.5, later)
    assert mine["holderIdentity"] == "me"
    assert mine["leaseTransitions"] == 5
    assert mine["acquireTime"] == format_micro_time(later)
    assert mine["leaseDurationSeconds"] == 11, "seconds are whole, rounded up"


def test_a_released_lease_is_free_soon_and_keeps_its_history() -> None:
    spec = held_spec(None, "me", 15, T0) | {"leaseTransitions": 2}
    released = released_spec(spec, T0)
    assert "holderIdentity" not in released
    assert released["leaseDurationSeconds"] == 1
    assert released["leaseTransitions"] == 2
    assert decide({"spec": released}, "other", T0) is LeaseAction.ACQUIRE
    assert held_spec(released, "other", 15, T0)["leaseTransitions"] == 3
