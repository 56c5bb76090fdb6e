"""Amounts, numbers and dates as the customer reads them: babel, in the customer's locale.

Money is shown in the plan's currency, dates and times in the plan's timezone (the zone its
periods are cut in), so "Nov 30" on a page is the same day the invoice counts. Amounts stay
`Decimal` up to the formatting call; nothing here rounds through a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime as DateTime
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

from pricing_rules.periods import zone

DEFAULT_LOCALE = "en_US"
LOCALE_ID = re.compile(r"[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8}){0,3}")


def parse_locale(value: str) -> str:
    """A locale identifier babel knows, normalised (`de-de` -> `de_DE`); ValueError otherwise."""
    text = value.strip().replace("-", "_")
    try:
        if not LOCALE_ID.fullmatch(text):
            raise ValueError(text)
        locale = Locale.parse(text)
    except (UnknownLocaleError, ValueError, TypeError) as error:
        raise ValueError(f"'{value}' is not a known locale (e.g. en_US, de_DE, fr_FR)") from error
    return str(locale)


def html_lang(locale: str) -> str:
    """The BCP 47 tag for `<html lang>`: `de_DE` -> `de-DE`."""
    return locale.replace("_", "-")


def money(amount: Decimal | str, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """`1234.5, usd` -> `$1,234.50` (en_US), `1.234,50 $` (de_DE)."""
    return babel_numbers.format_currency(Decimal(amount), currency.upper(), locale=locale)


def price(amount: Decimal | str, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """A unit price or tier amount with every digit it has: `0.0035` -> `$0.0035`."""
    return babel_numbers.format_currency(
        Decimal(amount), currency.upper(), locale=locale, decimal_quantization=False
    )


def number(value: Decimal | int | str, locale: str = DEFAULT_LOCALE) -> str:
    """`1234.5` -> `1,234.5` (en_US), `1.234,5` (de_DE); every significant digit kept."""
    exact = Decimal(value)
    digits = max(0, -exact.normalize().as_tuple().exponent)  # type: ignore[operator]
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return babel_numbers.format_decimal(exact, format=pattern, locale=locale)


def date(value: Date | DateTime, timezone: str, locale: str = DEFAULT_LOCALE) -> str:
    """The local day of `value` in `timezone`: `Nov 30, 2026` (en_US), `30.11.2026` (de_DE)."""
    day = value.astimezone(zone(timezone)).date() if isinstance(value, DateTime) else value
    return babel_dates.format_date(day, format="medium", locale=locale)


def datetime(value: DateTime, timezone: str, locale: str = DEFAULT_LOCALE) -> str:
    """`value` in `timezone`, to the minute, with the zone's short name."""
    local = value.astimezone(zone(timezone))
    day = babel_dates.format_date(local.date(), format="medium", locale=locale)
    clock = babel_dates.format_time(local, format="short", locale=locale)
    return f"{day}, {clock} {local.tzname() or timezone}"


def day(value: Date, locale: str = DEFAULT_LOCALE) -> str:
    """A short day label for chart axes: `Nov 3` (en_US), `3. Nov.` (de_DE)."""
    return babel_dates.format_skeleton("MMMd", value, locale=locale)


def period(start: DateTime, end: DateTime, timezone: str, locale: str = DEFAULT_LOCALE) -> str:
    """A billing period by its local days, last day included: `Nov 1-30, 2026` (en_US)."""
    tz = zone(timezone)
    first = start.astimezone(tz).date()
    last_instant = end.astimezone(tz)
    last = last_instant.date()
    if last_instant.time() == DateTime.min.time() and last > first:
        last = Date.fromordinal(last.toordinal() - 1)
    return babel_dates.format_interval(first, last, skeleton="yMMMd", locale=locale)


@dataclass(frozen=True, slots=True)
class Formatter:
    """The helpers above bound to one customer's locale and plan (what templates call)."""

    locale: str = DEFAULT_LOCALE
    timezone: str = "UTC"
    currency: str | None = None

    def money(self, amount: Decimal | str, currency: str | None = None) -> str:
        chosen = currency or self.currency
        if chosen is None:
            return number(amount, self.locale)
        return money(amount, chosen, self.locale)

    def price(self, amount: Decimal | str, currency: str | None = None) -> str:
        chosen = currency or self.currency
        if chosen is None:
            return number(amount, self.locale)
        return price(amount, chosen, self.locale)

    def day(self, value: Date) -> str:
        return day(value, self.locale)

    def number(self, value: Decimal | int | str) -> str:
        return number(value, self.locale)

    def date(self, value: Date | DateTime) -> str:
        return date(value, self.timezone, self.locale)

    def datetime(self, value: DateTime) -> str:
        return datetime(value, self.timezone, self.locale)

    def period(self, start: DateTime, end: DateTime) -> str:
        return period(start, end, self.timezone, self.locale)

    @property
    def lang(self) -> str:
        return html_lang(self.locale)
