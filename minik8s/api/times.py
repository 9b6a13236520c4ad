"""Kubernetes' notions of time, in one place: timestamps, ages and Go durations (pure).

- `Time` (`metav1.Time`) is RFC 3339 at second resolution: `2006-01-02T15:04:05Z`.
- `MicroTime` (`metav1.MicroTime`, Leases and events.k8s.io) keeps microseconds:
  `2006-01-02T15:04:05.000000Z`.
- Ages print as kubectl prints them (`human_duration`: `5s`, `3m2s`, `2d3h`).
- Flags and kubectl take Go durations (`parse_duration`: `1h0m0s`, `500ms`, `2` seconds).
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""`metav1.Time` as Go's RFC 3339 encoder writes it (UTC, seconds)."""
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""`metav1.MicroTime`: RFC 3339 with six fraction digits."""
EPOCH = datetime.min.replace(tzinfo=UTC)
"""The oldest time: what an absent timestamp sorts as."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """A `metav1.Time` string (fractions dropped, as Kubernetes serialises them)."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def format_micro_time(moment: datetime) -> str:
    """A `metav1.MicroTime` string."""
    return moment.astimezone(UTC).strftime(MICRO_TIME_FORMAT)


def format_timestamp(seconds: float) -> str:
    """A `metav1.Time` string from POSIX seconds."""
    return _format_second(int(seconds))


@functools.lru_cache(maxsize=4)
def _format_second(second: int) -> str:
    return time.strftime(TIME_FORMAT, time.gmtime(second))


def now_rfc3339() -> str:
    """The time now as a `metav1.Time` (formatted once per second: hot paths call it)."""
    return _format_second(int(time.time()))


def now_micro() -> str:
    """The time now as a `metav1.MicroTime`."""
    return format_micro_time(utc_now())


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp (`Z` or an offset, any fraction) as an aware UTC datetime.

    None when absent or not a timestamp: callers treat a bad stored value as missing.
    """
    if not text:
        return None
    value = str(text)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_seconds(moment: datetime, seconds: float) -> datetime:
    """`moment` plus `seconds` (any int64, e.g. a grace period or tolerationSeconds from an
    API object), saturating at the first and last representable instants instead of raising
    OverflowError."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)


def parse_timestamp(text: Any) -> float | None:
    """POSIX seconds of an RFC 3339 timestamp; None when absent or invalid."""
    moment = parse_time(text)
    return None if moment is None else moment.timestamp()


def human_duration(elapsed: timedelta) -> str:
    """kubectl's short age with two or three significant figures: `5s`, `3m2s`, `2d3h`, `1y5d`
    (apimachinery's `duration.HumanDuration`)."""
    micros = elapsed // timedelta(microseconds=1)
    seconds = int(micros / 1_000_000)  # truncates toward zero, as the Go original
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def since(value: Any, now: datetime) -> str:
    """The human age of a timestamp at `now`; `<unknown>` when absent or invalid."""
    moment = parse_time(value)
    return "<unknown>" if moment is None else human_duration(now - moment)


# --- Go durations --------------------------------------------------------------------------

_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float) -> float:
    """Seconds in a Go duration (`15s`, `1m30s`, `500ms`, `1h0m0s`); a bare number is seconds.

    Raises ValueError with one readable line otherwise (negative values included).
    """
    if isinstance(text, bool):
        raise ValueError(f'invalid duration "{text}"')
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f'invalid duration "{text}": must not be negative')
        return float(text)
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number < 0 or number != number:  # negative or NaN
            raise ValueError(f'invalid duration "{text}": must not be negative')
        return number
    total, position = 0.0, 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise ValueError(
            f'invalid duration "{text}": use e.g. 30s, 2m, 1h0m0s, 500ms or a number of seconds'
        )
    return total


def format_duration(seconds: float) -> str:
    """A Go duration string as Go's `Duration.String` writes it: `1h0m0s`, `1m30s`, `500ms`."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 1:
        millis = seconds * 1000
        return f"{sign}{millis:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{sign}{int(minutes)}m{text}"
    return sign + text
