"""Go-style durations, as the components' flags take them."""

from __future__ import annotations

import pytest

from minik8s.api.times import parse_duration
from minik8s.apiserver.config import parse_args


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("1.5", 1.5), ("500ms", 0.5), ("2m", 120.0), ("1h0m0s", 3600.0),
     ("1m30s", 90.0), (" 3s ", 3.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "m", "1h 2m", "s1"])
def test_bad_durations_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_event_ttl_flag_in_whole_seconds_defaults_to_an_hour() -> None:
    assert parse_args([]).event_ttl == 3600
    assert parse_args(["--event-ttl", "1500ms"]).event_ttl == 2
    assert parse_args(["--event-ttl", "0"]).event_ttl == 0


def test_a_bad_event_ttl_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--event-ttl", "soon"])
    assert exited.value.code == 2
    assert "--event-ttl" in capsys.readouterr().err
