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
RFC1123Z = "%a, %d %b %Y %H:%M:%S %z"
"""Go's `time.RFC1123Z`, how kubectl describe and some Event messages print a moment."""
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


def format_micro_timestamp(seconds: float) -> str:
    """A `metav1.MicroTime` string from POSIX seconds (the second is formatted once: audit
    events stamp two or three per request)."""
    whole = int(seconds)
    micros = min(int((seconds - whole) * 1_000_000), 999_999)
    return f"{_format_second(whole)[:-1]}.{micros:06d}Z"


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


_HUMAN_TIERS: tuple[tuple[float, int, str, int, str], ...] = (
    # below this many seconds: the big unit (seconds, suffix), then the small one (0: none)
    (120, 1, "s", 0, ""),
    (10 * 60, 60, "m", 1, "s"),
    (3 * 3600, 60, "m", 0, ""),
    (8 * 3600, 3600, "h", 60, "m"),
    (48 * 3600, 3600, "h", 0, ""),
    (8 * 86400, 86400, "d", 3600, "h"),
    (2 * 365 * 86400, 86400, "d", 0, ""),
    (8 * 365 * 86400, 365 * 86400, "y", 86400, "d"),
    (float("inf"), 365 * 86400, "y", 0, ""),
)


def human_duration(elapsed: timedelta) -> str:
    """kubectl's short age with two or three significant figures: `5s`, `3m2s`, `2d3h`, `1y5d`
    (apimachinery's `duration.HumanDuration`)."""
    micros = elapsed // timedelta(microseconds=1)
    seconds = int(micros / 1_000_000)  # truncates toward zero, as the Go original
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    for limit, big, big_suffix, small, small_suffix in _HUMAN_TIERS:
        if seconds < limit:
            text = f"{seconds // big}{big_suffix}"
            rest = (seconds % big) // small if small else 0
            return f"{text}{rest}{small_suffix}" if rest else text
    raise AssertionError("unreachable: the last tier has no limit")


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
