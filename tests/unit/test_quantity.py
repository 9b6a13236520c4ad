from decimal import Decimal

import pytest

from minik8s.api import quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("0.1", Decimal("0.1")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("+2", Decimal(2)),
        ("-1", Decimal(-1)),
        ("1n", Decimal("1e-9")),
        ("1u", Decimal("1e-6")),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 1024**2)),
        ("1.5Gi", Decimal(3 * 512 * 1024**2)),
        ("1Ti", Decimal(1024**4)),
        ("1Pi", Decimal(1024**5)),
        ("1Ei", Decimal(1024**6)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("12e+2", Decimal(1200)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text: str | int | float, expected: Decimal) -> None:
    assert quantity.parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "1x", "1.2.3", "Mi", "--1", " 1", "1 ", "1mi", "1KI", "1e", "e3", "1Mii"]
)
def test_parse_quantity_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        quantity.parse_quantity(text)


@pytest.mark.parametrize("value", [True, None, [], float("nan"), float("inf")])
def test_parse_quantity_rejects_non_quantities(value: object) -> None:
    with pytest.raises(ValueError):
        quantity.parse_quantity(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "millis"),
    [("1", 1000), ("500m", 500), ("0.1", 100), ("2.5", 2500), ("1n", 1), ("0.0001", 1), (2, 2000)],
)
def test_cpu_millis_rounds_up(text: str | int, millis: int) -> None:
    assert quantity.cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "count"),
    [("128Mi", 134217728), ("1Gi", 1073741824), ("1G", 10**9), ("100", 100), ("1500m", 2)],
)
def test_memory_bytes(text: str, count: int) -> None:
    assert quantity.memory_bytes(text) == count


@pytest.mark.parametrize(
    ("millis", "text"), [(500, "500m"), (1000, "1"), (2000, "2"), (1500, "1500m"), (0, "0")]
)
def test_format_cpu_millis(millis: int, text: str) -> None:
    assert quantity.format_cpu_millis(millis) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(134217728, "128Mi"), (1024, "1Ki"), (1073741824, "1Gi"), (1000, "1000"), (0, "0"),
     (1536 * 1024**2, "1536Mi")],
)  # fmt: skip
def test_format_bytes(count: int, text: str) -> None:
    assert quantity.format_bytes(count) == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1000m", "1"), ("0.5", "500m"), ("1500m", "1500m"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"),
     ("100", "100"), ("1e3", "1e3"), ("2000", "2k"), ("512Ki", "512Ki"), ("0", "0")],
)  # fmt: skip
def test_canonical(text: str, canonical: str) -> None:
    assert quantity.canonical(text) == canonical


def test_formats_round_trip() -> None:
    for millis in (1, 250, 1000, 3500):
        assert quantity.cpu_millis(quantity.format_cpu_millis(millis)) == millis
    for count in (1, 1024, 5 * 1024**3, 123456):
        assert quantity.memory_bytes(quantity.format_bytes(count)) == count
