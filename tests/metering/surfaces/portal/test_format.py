"""Amounts, numbers and dates in the customer's locale and the plan's timezone (babel)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from metering.platform.web import format as fmt
from metering.platform.web.charts import Point, bar_chart
from metering.platform.web.format import Formatter

NBSP, NNBSP = "\xa0", "\u202f"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "$1,234.50"),
        ("de_DE", f"1.234,50{NBSP}$"),
        ("fr_FR", f"1{NNBSP}234,50{NBSP}$US"),
    ],
)
def test_money_in_the_customers_locale(locale: str, expected: str) -> None:
    assert fmt.money(Decimal("1234.5"), "usd", locale) == expected


def test_money_in_the_plans_currency() -> None:
    assert fmt.money("3", "eur", "de_DE") == f"3,00{NBSP}€"
    assert fmt.money("3", "eur", "en_US") == "€3.00"
    assert fmt.money("1500", "jpy", "en_US") == "¥1,500"  # no minor unit
    assert fmt.money("-0.79", "usd", "en_US") == "-$0.79"


def test_prices_keep_every_digit() -> None:
    assert fmt.price("0.0035", "usd", "en_US") == "$0.0035"
    assert fmt.price("0.0035", "usd", "de_DE") == f"0,0035{NBSP}$"
    assert fmt.price("20", "usd", "en_US") == "$20.00"


def test_numbers_keep_their_digits() -> None:
    assert fmt.number(Decimal("1234.50"), "en_US") == "1,234.5"
    assert fmt.number(Decimal("1234.50"), "de_DE") == "1.234,5"
    assert fmt.number(Decimal("0.125"), "fr_FR") == "0,125"
    assert fmt.number(1000000, "en_US") == "1,000,000"


def test_dates_are_the_local_day_of_the_plan_timezone() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert fmt.date(late, "UTC", "en_US") == "Nov 30, 2026"
    assert fmt.date(late, "Europe/Paris", "en_US") == "Dec 1, 2026"
    assert fmt.date(late, "Europe/Paris", "de_DE") == "01.12.2026"
    assert fmt.date(late, "Europe/Paris", "fr_FR") == "1 déc. 2026"
    assert fmt.date(date(2026, 11, 3), "UTC", "en_US") == "Nov 3, 2026"


def test_datetimes_name_the_zone() -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert fmt.datetime(late, "Europe/Paris", "de_DE") == "01.12.2026, 00:30 CET"
    assert fmt.datetime(late, "UTC", "en_US") == f"Nov 30, 2026, 11:30{NNBSP}PM UTC"
    assert fmt.datetime(late, "America/New_York", "fr_FR") == "30 nov. 2026, 18:30 EST"


def test_periods_show_their_last_day() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert fmt.period(start, end, "UTC", "en_US") == "Nov 1\u2009\u2013\u200930, 2026"
    assert fmt.period(start, end, "UTC", "de_DE") == "1.\u201330. Nov. 2026"
    assert fmt.period(start, end, "UTC", "fr_FR") == "1\u201330 nov. 2026"


def test_locales_are_checked_and_normalised() -> None:
    assert fmt.parse_locale("de-de") == "de_DE"
    assert fmt.parse_locale("fr_FR") == "fr_FR"
    for bad in ("xx_YY", "", "en_US;drop"):
        with pytest.raises(ValueError, match="is not a known locale"):
            fmt.parse_locale(bad)
    assert fmt.html_lang("de_DE") == "de-DE"


def test_formatter_binds_locale_timezone_and_currency() -> None:
    bound = Formatter(locale="de_DE", timezone="Europe/Berlin", currency="eur")
    assert bound.money("12.5") == f"12,50{NBSP}€"
    assert bound.money("12.5", "usd") == f"12,50{NBSP}$"
    assert bound.day(date(2026, 11, 3)) == "3. Nov."
    assert bound.lang == "de-DE"
    assert Formatter().money("7") == "7"  # no plan, no currency: the bare number


def test_bar_chart_has_a_text_alternative() -> None:
    chart = str(
        bar_chart(
            [Point("Nov 1", 2), Point("Nov 2", 0), Point("Nov <3>", 5)],
            title="Outcomes per day",
            show=lambda v: f"{v} outcomes",
        )
    )
    assert 'role="img"' in chart and "<title id=" in chart
    assert '<caption class="visually-hidden">Outcomes per day</caption>' in chart
    assert "3 bars, total 7 outcomes, highest 5 outcomes" in chart
    assert '<th scope="row">Nov 1</th><td class="num">2 outcomes</td>' in chart
    assert "Nov &lt;3&gt;" in chart and "Nov <3>" not in chart
    assert chart.count('<rect class="bar"') == 3
    assert 'height="0.0"' in chart  # the empty day draws no bar
    empty = str(bar_chart([], title="Nothing"))
    assert "No data yet." in empty
