"""The chaos tests' audit of acknowledged writes (tests/support/acknowledged.py)."""

from tests.support.acknowledged import audit


def test_every_acknowledged_write_stored_once_passes() -> None:
    assert audit([1, 2, 4], [1, 2, 3, 4]) == ([], [])  # 3 failed but was stored: allowed


def test_a_missing_acknowledged_write_is_lost() -> None:
    assert audit([1, 2, 3], [1, 3]) == ([2], [])


def test_a_write_stored_twice_is_duplicated_even_when_not_acknowledged() -> None:
    assert audit([1, 2], [1, 2, 2, 3, 3]) == ([], [2, 3])
