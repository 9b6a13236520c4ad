"""CronJob schedules: the standard 5-field cron syntax and the `@hourly`-style macros, as
Kubernetes parses them (robfig/cron's ParseStandard), evaluated by croniter (pure).

`parse()` raises `ScheduleError` with a message for the 422 a bad schedule gets. Times are
aware datetimes; a schedule runs in the CronJob's `timeZone` (IANA name) or, without one,
in the controller's local time zone, as kube-controller-manager does.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from croniter import croniter

from minik8s.api import times

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_SCHEDULE_LENGTH = 1024
_EPSILON = timedelta(microseconds=1)


class ScheduleError(ValueError):
    """An unparseable schedule; the message is the one a 422 carries."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    """The 5-field cron expression (a macro expanded), or "" for `@every`."""
    every: float = 0.0
    """Seconds between runs of an `@every <duration>` schedule."""

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time strictly after `moment` (in `moment`'s time zone)."""
        if self.every:
            return moment.replace(microsecond=0) + timedelta(seconds=self.every)
        result: datetime = croniter(self.expression, moment).get_next(datetime)
        return result

    def latest_until(self, moment: datetime) -> datetime:
        """The last scheduled time at or before `moment` (`@every` has none: `moment`)."""
        if self.every:
            return moment
        result: datetime = croniter(self.expression, moment + _EPSILON).get_prev(datetime)
        return result


def parse(text: str) -> Schedule:
    """A schedule from its text, or `ScheduleError`."""
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise ScheduleError(f"must have at most {MAX_SCHEDULE_LENGTH} characters")
    stripped = text.strip()
    if not stripped:
        raise ScheduleError("empty spec string")
    if stripped.startswith("@every"):
        return _every(stripped)
    if stripped.startswith("@"):
        macro = MACROS.get(stripped.lower())
        if macro is None:
            raise ScheduleError(f"unrecognized descriptor: {stripped}")
        return Schedule(macro)
    fields = stripped.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    expression = " ".join("*" if f == "?" else f for f in fields)
    try:
        croniter(expression)
    except (ValueError, KeyError) as e:
        raise ScheduleError(f"invalid schedule {stripped!r}: {e}") from e
    return Schedule(expression)


def has_time_zone_prefix(text: str) -> bool:
    """`TZ=...` or `CRON_TZ=...` in the schedule, which Kubernetes refuses (use timeZone)."""
    return "TZ=" in text


def load_time_zone(name: str | None) -> tzinfo:
    """The IANA zone `name`, or the local one when None; `ScheduleError` when unknown."""
    if name is None:
        local = times.utc_now().astimezone().tzinfo
        assert local is not None
        return local
    if not name:
        raise ScheduleError("timeZone must be nil or non-empty string")
    if name.lower() == "local":
        raise ScheduleError(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        )
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError(f"unknown time zone {name}") from e


def _every(text: str) -> Schedule:
    _, _, rest = text.partition(" ")
    try:
        seconds = times.parse_duration(rest.strip())
    except ValueError as e:
        raise ScheduleError(f"failed to parse duration {text}: {e}") from e
    if seconds <= 0:
        raise ScheduleError(f"failed to parse duration {text}: must be positive")
    return Schedule("", every=max(1.0, float(int(seconds))))
