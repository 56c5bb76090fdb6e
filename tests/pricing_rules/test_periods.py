from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from pricing_rules.periods import (
    Interval,
    Period,
    Timezone,
    next_period,
    period_containing,
    period_from_label,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Billing(BaseModel):
    timezone: Timezone


def test_timezone_accepts_iana_names() -> None:
    assert Billing(timezone="America/New_York").timezone == "America/New_York"
    assert Billing(timezone="UTC").timezone == "UTC"


@pytest.mark.parametrize("name", ["Mars/Base", "", "../etc/passwd"])
def test_unknown_timezone_says_what_is_expected(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Billing(timezone=name)
    (detail,) = caught.value.errors()
    assert str(detail["ctx"]["error"]) == (
        f"unknown timezone {name!r}; expected an IANA name such as UTC or America/New_York"
    )


def test_month_in_utc() -> None:
    period = period_containing(utc(2026, 11, 28, 15, 30), "month", "UTC")
    assert period.start == utc(2026, 11, 1)
    assert period.end == utc(2026, 12, 1)
    assert period.label == "2026-11"


def test_new_york_month_starts_at_local_midnight_in_winter_and_summer() -> None:
    # November starts on EDT (UTC-4) and ends on EST (UTC-5).
    november = period_containing(utc(2026, 11, 15), "month", "America/New_York")
    assert november.start == utc(2026, 11, 1, 4)
    assert november.end == utc(2026, 12, 1, 5)
    # March starts on EST and ends on EDT.
    march = period_containing(utc(2026, 3, 15), "month", "America/New_York")
    assert march.start == utc(2026, 3, 1, 5)
    assert march.end == utc(2026, 4, 1, 4)


def test_instant_before_local_midnight_belongs_to_the_previous_local_month() -> None:
    # 03:59 UTC on Nov 1 is still Oct 31, 23:59 in New York.
    period = period_containing(utc(2026, 11, 1, 3, 59), "month", "America/New_York")
    assert period.label == "2026-10"
    assert period.end == utc(2026, 11, 1, 4)


def test_label_is_local_east_of_utc() -> None:
    # Tokyo's November starts on Oct 31 at 15:00 UTC.
    period = period_containing(utc(2026, 10, 31, 15), "month", "Asia/Tokyo")
    assert period.start == utc(2026, 10, 31, 15)
    assert period.label == "2026-11"


@pytest.mark.parametrize(
    ("interval", "label", "start", "end"),
    [
        ("day", "2026-11-28", utc(2026, 11, 28), utc(2026, 11, 29)),
        ("week", "2026-W48", utc(2026, 11, 23), utc(2026, 11, 30)),
        ("month", "2026-11", utc(2026, 11, 1), utc(2026, 12, 1)),
        ("quarter", "2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1)),
        ("year", "2026", utc(2026, 1, 1), utc(2027, 1, 1)),
    ],
)
def test_each_interval_and_its_label(
    interval: Interval, label: str, start: datetime, end: datetime
) -> None:
    period = period_containing(utc(2026, 11, 28, 12), interval, "UTC")
    assert (period.start, period.end, period.label) == (start, end, label)
    assert period_from_label(label, interval, "UTC") == period


def test_weeks_start_on_monday_and_use_iso_years() -> None:
    # Thursday 2027-01-01 belongs to ISO week 2026-W53, which started Monday 2026-12-28.
    period = period_containing(utc(2027, 1, 1), "week", "UTC")
    assert period.start == utc(2026, 12, 28)
    assert period.label == "2026-W53"
    sunday = period_containing(utc(2026, 11, 29, 23, 59), "week", "UTC")
    assert sunday.label == "2026-W48"


def test_day_across_dst_change_is_23_or_25_hours() -> None:
    spring = period_containing(utc(2026, 3, 8, 12), "day", "America/New_York")
    assert spring.end - spring.start == timedelta(hours=23)
    autumn = period_containing(utc(2026, 11, 1, 12), "day", "America/New_York")
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_midnight_skipped_by_dst_starts_the_day_at_the_jump() -> None:
    # Sao Paulo jumped from 00:00 to 01:00 on 2018-11-04; the day began at 03:00 UTC.
    period = period_containing(utc(2018, 11, 4, 12), "day", "America/Sao_Paulo")
    assert period.start == utc(2018, 11, 4, 3)
    assert period.label == "2018-11-04"


def test_contains_is_half_open() -> None:
    period = period_from_label("2026-11", "month", "America/New_York")
    assert period.contains(utc(2026, 11, 1, 4))
    assert period.contains(utc(2026, 12, 1, 4, 59, 59))
    assert not period.contains(utc(2026, 12, 1, 5))
    assert not period.contains(utc(2026, 11, 1, 3, 59, 59))


def test_next_period_starts_where_the_previous_ends() -> None:
    period = period_from_label("2026-12", "month", "Europe/Paris")
    following = next_period(period, "month", "Europe/Paris")
    assert following.start == period.end
    assert following.label == "2027-01"
    quarter = next_period(period_from_label("2026-Q4", "quarter", "UTC"), "quarter", "UTC")
    assert quarter.label == "2027-Q1"


@pytest.mark.parametrize(
    ("label", "interval", "message"),
    [
        ("2026-13", "month", "'2026-13' is not a month; expected YYYY-MM"),
        ("2026-11-31", "day", "'2026-11-31' is not a day; expected YYYY-MM-DD"),
        ("2026-W54", "week", "'2026-W54' is not an ISO week; expected YYYY-Www"),
        ("2025-W53", "week", "'2025-W53' is not an ISO week; expected YYYY-Www"),
        ("2026-Q5", "quarter", "'2026-Q5' is not a quarter; expected YYYY-Qn"),
        ("2026-11", "year", "'2026-11' is not a year; expected YYYY"),
        ("2026-11", "day", "'2026-11' is not a day; expected YYYY-MM-DD"),
        (
            "\uff12\uff10\uff12\uff16",
            "year",
            "'\uff12\uff10\uff12\uff16' is not a year; expected YYYY",
        ),
    ],
)
def test_label_that_does_not_fit_the_interval(label: str, interval: Interval, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        period_from_label(label, interval, "UTC")
    assert str(caught.value) == message


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        period_containing(datetime(2026, 11, 1), "month", "UTC")


def test_unknown_timezone_in_computation() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Mars/Base'"):
        period_containing(utc(2026, 11, 1), "month", "Mars/Base")


def test_period_is_frozen_and_needs_aware_bounds() -> None:
    period = period_from_label("2026", "year", "UTC")
    with pytest.raises(AttributeError):
        period.start = utc(2020, 1, 1)  # type: ignore[misc]
    with pytest.raises(ValueError, match="has no timezone"):
        Period(start=datetime(2026, 1, 1), end=utc(2026, 1, 2))


def test_periods_are_equal_by_their_instants() -> None:
    bare = Period(utc(2026, 11, 1), utc(2026, 12, 1))
    assert bare == period_from_label("2026-11", "month", "UTC")
    assert hash(bare) == hash(period_from_label("2026-11", "month", "UTC"))


def test_bare_period_infers_its_label_when_it_is_a_whole_interval() -> None:
    assert Period(utc(2026, 11, 1), utc(2026, 12, 1)).label == "2026-11"
    assert Period(utc(2026, 11, 23), utc(2026, 11, 30)).label == "2026-W48"
    new_york = Period(utc(2026, 11, 1, 4), utc(2026, 12, 1, 5), timezone="America/New_York")
    assert new_york.label == "2026-11"


def test_custom_range_is_labelled_as_an_iso_interval() -> None:
    period = Period(utc(2026, 11, 3), utc(2026, 11, 17, 12))
    assert period.label == "2026-11-03T00:00:00+00:00/2026-11-17T12:00:00+00:00"


def test_local_days_name_the_last_day_included_in_the_plan_timezone() -> None:
    paris = period_containing(datetime(2026, 10, 15, tzinfo=UTC), "month", "Europe/Paris")
    assert paris.start == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert paris.local_days == "2026-10-01 to 2026-10-31"
    day = period_containing(datetime(2026, 10, 15, 12, tzinfo=UTC), "day", "UTC")
    assert day.local_days == "2026-10-15"
    split = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 12, 15, tzinfo=UTC))
    assert split.local_days == "2026-10-01 to 2026-10-12"
