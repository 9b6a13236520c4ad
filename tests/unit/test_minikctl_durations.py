import pytest
import typer

from minik8s.cli.minikctl.errors import duration as parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("120", 120.0), ("120s", 120.0), ("2m", 120.0), ("1m30s", 90.0), ("500ms", 0.5),
     ("1h", 3600.0), ("0", 0.0), ("1.5s", 1.5), (30, 30.0)],
)  # fmt: skip
def test_durations_like_kubectl(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "s", "1m 30s", "-1s", "m1"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(text)
