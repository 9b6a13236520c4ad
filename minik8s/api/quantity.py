"""Kubernetes resource quantities ("500m", "128Mi", "1e3"): parsing and canonical short forms."""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal, InvalidOperation

QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
"""The pattern Kubernetes quotes when it rejects a quantity."""

QUANTITY_ERROR = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"

_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
_SYNTAX = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|n|u|m|k|M|G|T|P|E)?$"
)


def parse_quantity(value: str | int | float) -> Decimal:
    """The exact value of a quantity; raise ValueError when it is not one."""
    return _parse(value)[0]


def quantity_format(value: str | int | float) -> str:
    """How a quantity was written: "BinarySI", "DecimalSI" or "DecimalExponent"."""
    return _parse(value)[1]


def cpu_millis(value: str | int | float) -> int:
    """CPU in millicores, rounded up like Kubernetes' MilliValue() ("0.1" -> 100, "1" -> 1000)."""
    return math.ceil(parse_quantity(value) * 1000)


def memory_bytes(value: str | int | float) -> int:
    """A byte count, rounded up like Kubernetes' Value() ("128Mi" -> 134217728)."""
    return math.ceil(parse_quantity(value))


def format_cpu_millis(millis: int) -> str:
    """The short form of a CPU amount: 500 -> "500m", 2000 -> "2"."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_bytes(count: int) -> str:
    """The short form of a byte count: 134217728 -> "128Mi", 1000 -> "1000"."""
    if count == 0:
        return "0"
    for suffix, power in sorted(_BINARY_SUFFIXES.items(), key=lambda item: -item[1]):
        if count % (1024**power) == 0:
            return f"{count // 1024**power}{suffix}"
    return str(count)


def canonical(value: str | int | float) -> str:
    """Kubernetes' canonical spelling of a quantity ("1000m" -> "1", "1024Mi" -> "1Gi").

    Values are rounded up to the nano unit first, as Kubernetes does.
    """
    amount, fmt = _parse(value)
    amount = _round_up_to_nano(amount)
    if fmt == "BinarySI" and amount == amount.to_integral_value() and abs(amount) >= 1024:
        return _sign(amount) + format_bytes(int(abs(amount)))
    if fmt == "BinarySI" and amount == amount.to_integral_value():
        return str(int(amount))
    mantissa, exponent = _decimal_mantissa(amount)
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    suffix = next(s for s, e in _DECIMAL_SUFFIXES.items() if e == exponent)
    return f"{mantissa}{suffix}"


def _parse(value: str | int | float) -> tuple[Decimal, str]:
    if isinstance(value, str):
        return _parse_string(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity: {QUANTITY_ERROR}")
    if isinstance(value, int):
        return Decimal(value), "DecimalSI"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a quantity: {QUANTITY_ERROR}")
        return Decimal(repr(value)), "DecimalSI"
    raise ValueError(f"{value!r} is not a quantity: {QUANTITY_ERROR}")


@functools.lru_cache(maxsize=4096)
def _parse_string(value: str) -> tuple[Decimal, str]:
    """Cached: every pod of a workload spells the same few quantities, and every component
    (validation, scheduler, kubelet) parses them again."""
    match = _SYNTAX.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a quantity: {QUANTITY_ERROR}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as e:
        raise ValueError(f"{value!r} is not a quantity: {QUANTITY_ERROR}") from e
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        return number * (1024 ** _BINARY_SUFFIXES[suffix]), "BinarySI"
    if suffix in _DECIMAL_SUFFIXES:
        return number.scaleb(_DECIMAL_SUFFIXES[suffix]), "DecimalSI"
    return number.scaleb(int(suffix[1:])), "DecimalExponent"


def _round_up_to_nano(amount: Decimal) -> Decimal:
    nanos = amount.scaleb(9)
    rounded = Decimal(math.ceil(nanos)) if amount >= 0 else Decimal(math.floor(nanos))
    return rounded.scaleb(-9)


def _decimal_mantissa(amount: Decimal) -> tuple[int, int]:
    """Split into an integer mantissa and the largest usable exponent (a multiple of 3)."""
    if amount == 0:
        return 0, 0
    for exponent in range(18, -10, -3):
        scaled = amount.scaleb(-exponent)
        if scaled == scaled.to_integral_value():
            return int(scaled), exponent
    return int(amount.scaleb(9)), -9


def _sign(amount: Decimal) -> str:
    return "-" if amount < 0 else ""
