"""Billing periods: cut at local midnight in the plan's timezone, stored as UTC instants.

A period is half-open, [start, end), so every instant belongs to exactly one period and the
end of one is the start of the next. The period keeps the interval and timezone it was cut
with, because its label ("2026-11") is a local date that cannot be read back from UTC alone
(Pacific/Kiritimati and Pacific/Honolulu months start at the same UTC hour on different days).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, WithJsonSchema

Interval = Literal["day", "week", "month", "quarter", "year"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError naming the expected form if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown timezone {name!r}; expected an IANA name such as UTC or America/New_York"
        ) from None


def check_timezone(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"unknown timezone {value!r}; expected an IANA name such as UTC or America/New_York"
        )
    zone(value)
    return value


Timezone = Annotated[
    str,
    AfterValidator(check_timezone),
    WithJsonSchema(
        {"type": "string", "description": "IANA timezone name, for example UTC or Europe/Paris."}
    ),
]


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; equal periods are equal instants, however they were cut.

    `interval` and `timezone` give the period its local label. A period built from bare
    instants (a custom --from/--to range) infers its interval when it matches one exactly in
    `timezone`, and is otherwise labelled as an ISO 8601 interval, "start/end".
    """

    start: datetime
    end: datetime
    interval: Interval | None = field(default=None, compare=False)
    timezone: str = field(default="UTC", compare=False)

    def __post_init__(self) -> None:
        _require_aware(self.start)
        _require_aware(self.end)

    def contains(self, instant: datetime) -> bool:
        _require_aware(instant)
        return self.start <= instant < self.end

    @property
    def local_start(self) -> date:
        return self.start.astimezone(zone(self.timezone)).date()

    @property
    def local_days(self) -> str:
        """The period's days in its timezone, last day included: "2026-10-01 to 2026-10-31"."""
        first = self.local_start
        last = (self.end - timedelta(microseconds=1)).astimezone(zone(self.timezone)).date()
        return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"

    @property
    def label(self) -> str:
        interval = self.interval or self._matching_interval()
        if interval is None:
            return f"{self.start.isoformat()}/{self.end.isoformat()}"
        return label_of(self.local_start, interval)

    def _matching_interval(self) -> Interval | None:
        for interval in INTERVALS:
            if period_containing(self.start, interval, self.timezone) == self:
                return interval
        return None


def label_of(first_day: date, interval: Interval) -> str:
    """The human label of the period starting on local date `first_day`."""
    if interval == "day":
        return first_day.isoformat()
    if interval == "week":
        year, week, _ = first_day.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return f"{first_day.year}-{first_day.month:02d}"
    if interval == "quarter":
        return f"{first_day.year}-Q{(first_day.month - 1) // 3 + 1}"
    if interval == "year":
        return str(first_day.year)
    raise _unknown_interval(interval)


def period_containing(instant: datetime, interval: Interval, timezone: str) -> Period:
    """The period of `interval` in `timezone` that contains `instant`."""
    _require_aware(instant)
    local_day = instant.astimezone(zone(timezone)).date()
    return _period_starting(_first_day(local_day, interval), interval, timezone)


def next_period(period: Period, interval: Interval, timezone: str) -> Period:
    """The period right after `period` (its start is `period.end`)."""
    return period_containing(period.end, interval, timezone)


_LABEL_FORMS: dict[Interval, tuple[str, re.Pattern[str], str]] = {
    "day": ("a day", re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"), "YYYY-MM-DD"),
    "week": ("an ISO week", re.compile(r"([0-9]{4})-W([0-9]{2})"), "YYYY-Www"),
    "month": ("a month", re.compile(r"([0-9]{4})-([0-9]{2})"), "YYYY-MM"),
    "quarter": ("a quarter", re.compile(r"([0-9]{4})-Q([0-9])"), "YYYY-Qn"),
    "year": ("a year", re.compile(r"([0-9]{4})"), "YYYY"),
}


def period_from_label(label: str, interval: Interval, timezone: str) -> Period:
    """Parse a label such as "2026-11" back into its period; ValueError if it does not fit."""
    if interval not in _LABEL_FORMS:
        raise _unknown_interval(interval)
    noun, pattern, form = _LABEL_FORMS[interval]
    match = pattern.fullmatch(label) if isinstance(label, str) else None
    first_day = _first_day_of_label(match, interval) if match else None
    if first_day is None:
        raise ValueError(f"{label!r} is not {noun}; expected {form}")
    return _period_starting(first_day, interval, timezone)


def _first_day_of_label(match: re.Match[str], interval: Interval) -> date | None:
    numbers = [int(group) for group in match.groups()]
    try:
        if interval == "day":
            return date(numbers[0], numbers[1], numbers[2])
        if interval == "week":
            return date.fromisocalendar(numbers[0], numbers[1], 1)
        if interval == "month":
            return date(numbers[0], numbers[1], 1)
        if interval == "quarter":
            if not 1 <= numbers[1] <= 4:
                return None
            return date(numbers[0], 3 * (numbers[1] - 1) + 1, 1)
        return date(numbers[0], 1, 1)
    except ValueError:
        return None


def _first_day(day: date, interval: Interval) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if interval == "year":
        return date(day.year, 1, 1)
    raise _unknown_interval(interval)


def _following_first_day(first_day: date, interval: Interval) -> date:
    if interval == "day":
        return first_day + timedelta(days=1)
    if interval == "week":
        return first_day + timedelta(days=7)
    if interval == "year":
        return first_day.replace(year=first_day.year + 1)
    months = 1 if interval == "month" else 3
    index = first_day.month - 1 + months
    return date(first_day.year + index // 12, index % 12 + 1, 1)


def _local_midnight(day: date, timezone: str) -> datetime:
    # fold=0 makes an ambiguous midnight its first occurrence, and a midnight skipped by a
    # DST jump the instant of the jump: in both cases the first instant of the local day.
    return datetime.combine(day, time(0), tzinfo=zone(timezone)).astimezone(UTC)


def _period_starting(first_day: date, interval: Interval, timezone: str) -> Period:
    try:
        following = _following_first_day(first_day, interval)
    except (ValueError, OverflowError):
        raise ValueError(f"no {interval} period after {first_day} fits in the calendar") from None
    return Period(
        start=_local_midnight(first_day, timezone),
        end=_local_midnight(following, timezone),
        interval=interval,
        timezone=timezone,
    )


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no timezone; pass an aware datetime")


def _unknown_interval(interval: object) -> ValueError:
    return ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")


def clip(period: Period, start: datetime, end: datetime | None) -> Period:
    """The part of `period` inside [start, end) (a subscription that starts or ends inside
    it splits it); keeps the period's label when nothing is cut."""
    _require_aware(start)
    new_start = max(period.start, start)
    new_end = period.end if end is None else min(period.end, end)
    if new_start >= new_end:
        raise ValueError(f"{period.label} does not overlap [{start.isoformat()}, {end})")
    if (new_start, new_end) == (period.start, period.end):
        return period
    return Period(new_start, new_end, None, period.timezone)
